package bootsvc

import (
	"log/slog"
	"sort"
)

// pair is one selector or label: key=value.
type pair struct{ k, v string }

// index selects groups without scanning them all. Groups are kept in
// matchbox's precedence order (most selectors first, then the greater sorted
// k=v string), and each group is filed under one "anchor": its selector pair
// shared by the fewest groups. A request only looks at groups anchored on one
// of its own labels, so its cost follows the number of its labels, not of
// groups. Groups with no selector (defaults) come last in the order.
type index struct {
	groups   []*Group       // precedence order, best first
	anchors  map[pair][]int // anchor pair → positions in groups, ascending
	defaults []int
}

func newIndex(groups []*Group, log *slog.Logger) *index {
	type ranked struct {
		g   *Group
		sel string
	}
	rs := make([]ranked, len(groups))
	for i, g := range groups {
		rs[i] = ranked{g, selectorString(g.Selector)}
	}
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if len(a.g.Selector) != len(b.g.Selector) {
			return len(a.g.Selector) > len(b.g.Selector)
		}
		if a.sel != b.sel {
			return a.sel > b.sel
		}
		return a.g.file < b.g.file // matchbox leaves this order undefined; ours is by file name
	})
	ix := &index{groups: make([]*Group, len(rs)), anchors: map[pair][]int{}}
	freq := map[pair]int{}
	for i, r := range rs {
		ix.groups[i] = r.g
		for k, v := range r.g.Selector {
			freq[pair{k, v}]++
		}
		if i > 0 && len(r.g.Selector) == len(rs[i-1].g.Selector) && r.sel == rs[i-1].sel {
			log.Warn("two groups have the same selector; the first by file name always wins",
				"file", rs[i-1].g.file, "shadowed", r.g.file, "selector", r.sel)
		}
	}
	for i, g := range ix.groups {
		if len(g.Selector) == 0 {
			ix.defaults = append(ix.defaults, i)
			continue
		}
		var anchor pair
		best := -1
		for k, v := range g.Selector {
			p := pair{k, v}
			if n := freq[p]; best == -1 || n < best || n == best && (p.k < anchor.k || p.k == anchor.k && p.v < anchor.v) {
				anchor, best = p, n
			}
		}
		ix.anchors[anchor] = append(ix.anchors[anchor], i)
	}
	return ix
}

// selectGroup returns the group matchbox would choose for these labels.
func (ix *index) selectGroup(labels map[string]string) (*Group, bool) {
	best := -1
	for k, v := range labels {
		for _, i := range ix.anchors[pair{k, v}] {
			if best != -1 && i >= best {
				break // the rest are lower in precedence than what we have
			}
			if matches(ix.groups[i].Selector, labels) {
				best = i
				break
			}
		}
	}
	if best == -1 {
		if len(ix.defaults) == 0 {
			return nil, false
		}
		best = ix.defaults[0]
	}
	return ix.groups[best], true
}
