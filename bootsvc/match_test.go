package bootsvc

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

func groupsOf(sels ...map[string]string) []*Group {
	gs := make([]*Group, len(sels))
	for i, s := range sels {
		gs[i] = &Group{ID: fmt.Sprintf("g%d", i), Selector: s, file: fmt.Sprintf("groups/g%02d.json", i)}
	}
	return gs
}

// linearSelect is matchbox's algorithm written out plainly: sort every group
// by (selector count, selector string), reversed, and take the first match.
func linearSelect(groups []*Group, labels map[string]string) (*Group, bool) {
	gs := append([]*Group(nil), groups...)
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if len(a.Selector) != len(b.Selector) {
			return len(a.Selector) > len(b.Selector)
		}
		if sa, sb := selectorString(a.Selector), selectorString(b.Selector); sa != sb {
			return sa > sb
		}
		return a.file < b.file
	})
	for _, g := range gs {
		if matches(g.Selector, labels) {
			return g, true
		}
	}
	return nil, false
}

func TestSelectGroup(t *testing.T) {
	// The groups from matchbox's precedence example, plus a second default.
	groups := groupsOf(
		map[string]string{"mac": "52:54:00:a1:9c:ae", "os": "installed"}, // g0
		map[string]string{"region": "b"},                                 // g1
		map[string]string{"region": "a"},                                 // g2
		map[string]string{"os": "installed"},                             // g3
		map[string]string{"mac": "52:54:00:a1:9c:ae"},                    // g4
		map[string]string{},                                              // g5
		nil,                                                              // g6: another default, later by file name
	)
	ix := newIndex(groups, quietLogger())
	tests := []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{name: "most selectors win", labels: map[string]string{"mac": "52:54:00:a1:9c:ae", "os": "installed", "region": "a"}, want: "g0"},
		{name: "tie: greater selector string wins (region=a > os=installed)", labels: map[string]string{"os": "installed", "region": "a"}, want: "g2"},
		{name: "tie between regions impossible: one value", labels: map[string]string{"region": "b", "os": "installed"}, want: "g1"},
		{name: "os=installed > mac=...", labels: map[string]string{"mac": "52:54:00:a1:9c:ae", "os": "other"}, want: "g4"},
		{name: "single selector", labels: map[string]string{"os": "installed"}, want: "g3"},
		{name: "default when nothing else", labels: map[string]string{"os": "live"}, want: "g5"},
		{name: "keys are case-sensitive", labels: map[string]string{"OS": "installed"}, want: "g5"},
		{name: "no labels", labels: map[string]string{}, want: "g5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, ok := ix.selectGroup(tt.labels)
			if !ok || g.ID != tt.want {
				t.Fatalf("selected %v, want %s", g, tt.want)
			}
			if lg, _ := linearSelect(groups, tt.labels); lg != g {
				t.Errorf("index chose %s, matchbox's linear order %s", g.ID, lg.ID)
			}
		})
	}
	if _, ok := newIndex(groupsOf(map[string]string{"os": "x"}), quietLogger()).selectGroup(map[string]string{}); ok {
		t.Error("a request matching no group and no default selected something")
	}
}

// randomCase builds groups and labels over a small alphabet from a seed, so
// that overlaps, ties and defaults are frequent.
func randomCase(seed uint64) ([]*Group, map[string]string) {
	r := rand.New(rand.NewPCG(seed, seed>>7|1))
	keys := []string{"mac", "os", "region", "role", "Role"}
	vals := []string{"a", "b", "c"}
	sels := make([]map[string]string, 1+r.IntN(12))
	for i := range sels {
		sels[i] = map[string]string{}
		for range r.IntN(4) {
			sels[i][keys[r.IntN(len(keys))]] = vals[r.IntN(len(vals))]
		}
	}
	labels := map[string]string{}
	for range r.IntN(6) {
		labels[keys[r.IntN(len(keys))]] = vals[r.IntN(len(vals))]
	}
	return groupsOf(sels...), labels
}

func TestSelectGroupAgreesWithLinearScan(t *testing.T) {
	for seed := range uint64(5000) {
		groups, labels := randomCase(seed)
		checkAgainstLinear(t, groups, labels)
	}
}

func checkAgainstLinear(t *testing.T, groups []*Group, labels map[string]string) {
	t.Helper()
	got, gok := newIndex(groups, quietLogger()).selectGroup(labels)
	want, wok := linearSelect(groups, labels)
	if gok != wok || got != want {
		t.Fatalf("labels %v over %d groups: index chose %v, linear %v", labels, len(groups), got, want)
	}
	// The same groups added one at a time, after a detour through a
	// removal, as writes build the index: the same choice, and the
	// index the writes started from still chooses as it did.
	base := newIndex(groups[:len(groups)/2], quietLogger())
	baseGot, _ := base.selectGroup(labels)
	ix := base
	for _, g := range groups[len(groups)/2:] {
		ix = ix.with(g, quietLogger())
	}
	if len(groups) > 0 {
		ix = ix.without(groups[0]).with(groups[0], quietLogger())
	}
	if got, ok := ix.selectGroup(labels); ok != wok || got != want {
		t.Fatalf("labels %v over %d groups: index built by writes chose %v, linear %v", labels, len(groups), got, want)
	}
	if again, _ := base.selectGroup(labels); again != baseGot {
		t.Fatalf("writes changed the index they started from: %v, was %v", again, baseGot)
	}
	if ix.files.len() != len(groups) {
		t.Fatalf("%d groups filed, want %d", ix.files.len(), len(groups))
	}
}

// FuzzSelectGroup checks the index against the plain linear scan.
func FuzzSelectGroup(f *testing.F) {
	for _, s := range []uint64{0, 1, 42, 1 << 40} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		groups, labels := randomCase(seed)
		checkAgainstLinear(t, groups, labels)
	})
}
