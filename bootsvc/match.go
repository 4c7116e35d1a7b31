package bootsvc

import (
	"log/slog"
	"slices"
	"sort"
)

// pair is one selector or label: key=value.
type pair struct{ k, v string }

// index selects groups without scanning them all. Each group is filed under
// one "anchor", one of its selector pairs; a request only looks at groups
// anchored on one of its own labels, so its cost follows the number of its
// labels, not of groups. Any pair of a group's selector is a correct anchor
// (a group that matches has all of them among the request's labels); the
// rarest keeps the lists short. Lists are in matchbox's precedence order
// (most selectors first, then the greater sorted k=v string), and groups
// with no selector (defaults) come after every other.
//
// An index is never changed once built: with and without return a new one
// that shares all but the changed entries (cowMap), so a write costs the
// size of one shard, not of every group, and requests read without locks.
type index struct {
	files    cowMap[string, *Group] // every group, by its file
	ids      cowMap[string, *Group]
	anchors  cowMap[pair, []*Group] // precedence order
	defaults []*Group               // precedence order
}

// precedes reports whether a wins over b when both match: matchbox's order,
// with the file name breaking the ties matchbox leaves undefined.
func precedes(a, b *Group) bool {
	if len(a.Selector) != len(b.Selector) {
		return len(a.Selector) > len(b.Selector)
	}
	if a.sel != b.sel {
		return a.sel > b.sel
	}
	return a.file < b.file
}

func newIndex(groups []*Group, log *slog.Logger) *index {
	gs := slices.Clone(groups)
	for _, g := range gs {
		g.sel = selectorString(g.Selector)
	}
	sort.SliceStable(gs, func(i, j int) bool { return precedes(gs[i], gs[j]) })
	ix := &index{
		files:   newCowMap[string, *Group](hashString),
		ids:     newCowMap[string, *Group](hashString),
		anchors: newCowMap[pair, []*Group](hashPair),
	}
	freq := map[pair]int{}
	for i, g := range gs {
		for k, v := range g.Selector {
			freq[pair{k, v}]++
		}
		if i > 0 && len(g.Selector) == len(gs[i-1].Selector) && g.sel == gs[i-1].sel {
			warnShadowed(log, gs[i-1], g)
		}
	}
	for _, g := range gs { // in precedence order, so each list is too
		ix.files.set(g.file, g)
		ix.ids.set(g.ID, g)
		if len(g.Selector) == 0 {
			ix.defaults = append(ix.defaults, g)
			continue
		}
		g.anchor = rarest(g, func(p pair) int { return freq[p] })
		list, _ := ix.anchors.get(g.anchor)
		ix.anchors.set(g.anchor, append(list, g))
	}
	return ix
}

func warnShadowed(log *slog.Logger, a, b *Group) {
	first, shadowed := a, b
	if precedes(b, a) {
		first, shadowed = b, a
	}
	log.Warn("two groups have the same selector; the first by file name always wins",
		"file", first.file, "shadowed", shadowed.file, "selector", first.sel)
}

// rarest is the pair of g's selector that count says the fewest groups
// share, ties broken by the smaller pair.
func rarest(g *Group, count func(pair) int) pair {
	var anchor pair
	best := -1
	for k, v := range g.Selector {
		p := pair{k, v}
		if n := count(p); best == -1 || n < best || n == best && (p.k < anchor.k || p.k == anchor.k && p.v < anchor.v) {
			anchor, best = p, n
		}
	}
	return anchor
}

// with returns the index with g added; g's file and id must be free, and
// g new (with fills in its sel and anchor).
func (ix *index) with(g *Group, log *slog.Logger) *index {
	n := *ix
	g.sel = selectorString(g.Selector)
	n.files = ix.files.with(g.file, g)
	n.ids = ix.ids.with(g.ID, g)
	if len(g.Selector) == 0 {
		n.defaults = insertOrdered(ix.defaults, g, log)
		return &n
	}
	// The lists' lengths stand in for the frequencies a full build counts.
	g.anchor = rarest(g, func(p pair) int { l, _ := ix.anchors.get(p); return len(l) })
	for k, v := range g.Selector {
		if p := (pair{k, v}); p != g.anchor {
			l, _ := ix.anchors.get(p)
			for _, o := range l {
				if o.sel == g.sel {
					warnShadowed(log, o, g)
				}
			}
		}
	}
	list, _ := ix.anchors.get(g.anchor)
	n.anchors = ix.anchors.with(g.anchor, insertOrdered(list, g, log))
	return &n
}

// without returns the index without g.
func (ix *index) without(g *Group) *index {
	n := *ix
	n.files = ix.files.without(g.file)
	if o, _ := ix.ids.get(g.ID); o == g {
		n.ids = ix.ids.without(g.ID)
	}
	drop := func(l []*Group) []*Group {
		return slices.DeleteFunc(slices.Clone(l), func(o *Group) bool { return o == g })
	}
	if len(g.Selector) == 0 {
		n.defaults = drop(ix.defaults)
		return &n
	}
	list, _ := ix.anchors.get(g.anchor)
	if list = drop(list); len(list) == 0 {
		n.anchors = ix.anchors.without(g.anchor)
	} else {
		n.anchors = ix.anchors.with(g.anchor, list)
	}
	return &n
}

// insertOrdered returns a copy of list with g in its place by precedence,
// warning when g and a neighbour have the same selector.
func insertOrdered(list []*Group, g *Group, log *slog.Logger) []*Group {
	i, _ := slices.BinarySearchFunc(list, g, func(o, g *Group) int {
		if precedes(o, g) {
			return -1
		}
		return 1
	})
	for _, j := range []int{i - 1, i} {
		if j >= 0 && j < len(list) && list[j].sel == g.sel && len(list[j].Selector) == len(g.Selector) {
			warnShadowed(log, list[j], g)
		}
	}
	return slices.Insert(slices.Clone(list), i, g)
}

// selectGroup returns the group matchbox would choose for these labels.
func (ix *index) selectGroup(labels map[string]string) (*Group, bool) {
	var best *Group
	for k, v := range labels {
		list, _ := ix.anchors.get(pair{k, v})
		for _, g := range list {
			if best != nil && !precedes(g, best) {
				break // the rest are lower in precedence than what we have
			}
			if matches(g.Selector, labels) {
				best = g
				break
			}
		}
	}
	if best == nil {
		if len(ix.defaults) == 0 {
			return nil, false
		}
		best = ix.defaults[0]
	}
	return best, true
}
