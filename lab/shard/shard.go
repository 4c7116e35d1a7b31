// Package shard splits a list of scenarios into stable shares, so that CI
// runners side by side each run their own: the same share for the same list
// and shard, whatever the order the list was given in. It only picks names;
// running them is lab/control's.
package shard

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Shard is share Index (1 to Count) of Count. The zero Shard is the whole list.
type Shard struct{ Index, Count int }

func (s Shard) String() string {
	if s.Count == 0 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Parse reads "I/N". Its errors quote s and say what is wrong with it; the
// caller names the flag.
func Parse(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%q is not I/N (share I of N, for example 2/4)", s)
	}
	i, ierr := strconv.Atoi(is)
	n, nerr := strconv.Atoi(ns)
	switch {
	case ierr != nil || nerr != nil:
		return Shard{}, fmt.Errorf("%q: I and N are whole numbers (share I of N, for example 2/4)", s)
	case n < 1:
		return Shard{}, fmt.Errorf("%q: N is %d, it must be at least 1", s, n)
	case i < 1 || i > n:
		return Shard{}, fmt.Errorf("%q: I is %d, it must be from 1 to %d", s, i, n)
	}
	return Shard{Index: i, Count: n}, nil
}

// Select sorts names and deals them round-robin into s.Count shares,
// returning share s.Index: the shares differ in size by one at most, and
// together hold each name exactly once. A name given twice is refused (two
// labs of one name cannot be up at once).
func Select(names []string, s Shard) ([]string, error) {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return nil, fmt.Errorf("scenario %s is given twice", sorted[i])
		}
	}
	if s.Count == 0 {
		return sorted, nil
	}
	var share []string
	for i, n := range sorted {
		if i%s.Count == s.Index-1 {
			share = append(share, n)
		}
	}
	return share, nil
}
