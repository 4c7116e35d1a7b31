package scenario

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// onBaseFS is a scenario directory with no data of its own: everything
// but its name, description and steps comes from its base.
func onBaseFS(y string) fstest.MapFS {
	return fstest.MapFS{"mine/scenario.yaml": {Data: []byte(y)}}
}

const onEtcd3 = `name: mine
base: etcd3
description: Steps of my own on etcd3's lab.
steps:
  - name: cut
    fault: {kind: partition, machines: [node3]}
    recover: {checks: [{name: back, nodes: [node3], run: "true"}]}
`

func TestBase(t *testing.T) {
	base, err := Find("etcd3")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(onBaseFS(onEtcd3), "mine", "mine/scenario.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "mine" || s.Base != "etcd3" || s.Headline() != "Steps of my own on etcd3's lab." || s.Source != "mine/scenario.yaml" {
		t.Errorf("scenario = %s (base %s, source %s): %q", s.Name, s.Base, s.Source, s.Headline())
	}
	if len(s.Steps) != 1 || s.Steps[0].Name != "cut" {
		t.Errorf("steps = %+v, want its own (cut) only", s.Steps)
	}
	// The base's lab: machines, network, checks and data directory.
	if !slices.Equal(s.ImageNames(), base.ImageNames()) || len(s.Machines) != 3 || s.Machines[2].IP != "10.77.3.13" ||
		s.Network != base.Network || len(s.Checks) != len(base.Checks) || s.Data != base.Data || s.FS != base.FS {
		t.Errorf("the base's lab is not inherited: %+v", s)
	}
	if !s.OnLab("etcd3") || s.OnLab("k8s") || !base.OnLab("etcd3") {
		t.Errorf("OnLab: mine on etcd3 %v, on k8s %v; etcd3 on etcd3 %v", s.OnLab("etcd3"), s.OnLab("k8s"), base.OnLab("etcd3"))
	}
}

func TestBaseInvalid(t *testing.T) {
	tests := []struct{ name, old, new, want string }{
		{"no such base", "base: etcd3", "base: etcd9", `mine/scenario.yaml: base: no scenario "etcd9": built-in scenarios are`},
		{"a path as base", "base: etcd3", "base: ../etcd3", `mine/scenario.yaml: base: no scenario "../etcd3"`},
		{"base of a base", "base: etcd3", "base: etcd3-partition", "mine/scenario.yaml: base: etcd3-partition has a base itself (etcd3); name that one"},
		{"a base's field", "steps:", "machines: []\nsteps:", "mine/scenario.yaml: machines: comes from base etcd3; a scenario with a base sets only name, description, base, steps"},
		{"a step off the base's machines", "machines: [node3]", "machines: [node9]", `mine/scenario.yaml: steps[0].fault.machines: no machine named "node9"`},
		{"no description", "description: Steps of my own on etcd3's lab.", "", "mine/scenario.yaml: description: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(onEtcd3, tt.old, tt.new, 1)
			if y == onEtcd3 {
				t.Fatal("test case does not change the scenario")
			}
			_, err := Load(onBaseFS(y), "mine", "mine/scenario.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestBuiltinOnBase: the built-in scenarios with a base load with their
// base's machines, and their steps name only those.
func TestBuiltinOnBase(t *testing.T) {
	for _, tc := range []struct{ name, base string }{
		{"etcd3-partition", "etcd3"}, {"etcd3-chaos", "etcd3"}, {"etcd3-disk", "etcd3"}, {"k8s-worker-loss", "k8s-install"},
	} {
		s, err := Find(tc.name)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if s.Base != tc.base || !s.OnLab(tc.base) || len(s.Steps) == 0 || len(s.Machines) == 0 {
			t.Errorf("%s: base %q, %d steps, %d machines; want base %s with steps", tc.name, s.Base, len(s.Steps), len(s.Machines), tc.base)
		}
	}
}
