package shard

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr string // "" when accepted
	}{
		{"1/1", Shard{1, 1}, ""},
		{"2/4", Shard{2, 4}, ""},
		{"4/4", Shard{4, 4}, ""},
		{"3", Shard{}, `"3" is not I/N`},
		{"", Shard{}, `"" is not I/N`},
		{"a/2", Shard{}, `"a/2": I and N are whole numbers`},
		{"1/b", Shard{}, `"1/b": I and N are whole numbers`},
		{"1/2/3", Shard{}, `"1/2/3": I and N are whole numbers`},
		{"0/0", Shard{}, `"0/0": N is 0, it must be at least 1`},
		{"1/-2", Shard{}, `"1/-2": N is -2, it must be at least 1`},
		{"0/3", Shard{}, `"0/3": I is 0, it must be from 1 to 3`},
		{"4/3", Shard{}, `"4/3": I is 4, it must be from 1 to 3`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	seven := []string{"pxe-smoke", "etcd3", "k8s", "etcd-large", "k8s-install", "etcd3-install", "fcos-etcd3"}
	tests := []struct {
		name  string
		names []string
		shard Shard
		want  []string
	}{
		{"whole list, sorted", seven, Shard{}, []string{"etcd-large", "etcd3", "etcd3-install", "fcos-etcd3", "k8s", "k8s-install", "pxe-smoke"}},
		{"one of one is all", seven, Shard{1, 1}, []string{"etcd-large", "etcd3", "etcd3-install", "fcos-etcd3", "k8s", "k8s-install", "pxe-smoke"}},
		{"1/3", seven, Shard{1, 3}, []string{"etcd-large", "fcos-etcd3", "pxe-smoke"}},
		{"2/3", seven, Shard{2, 3}, []string{"etcd3", "k8s"}},
		{"3/3", seven, Shard{3, 3}, []string{"etcd3-install", "k8s-install"}},
		{"more shards than scenarios: the last is empty", []string{"b", "a"}, Shard{3, 3}, nil},
		{"empty list", nil, Shard{1, 2}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Select(tt.names, tt.shard)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Select(%v, %v) = %v, %v; want %v", tt.names, tt.shard, got, err, tt.want)
			}
		})
	}
}

// The same share whatever the order given, and the shares together hold
// every name exactly once.
func TestSelectStableAndComplete(t *testing.T) {
	names := []string{"e", "b", "g", "a", "d", "c", "f", "h"}
	reversed := slices.Clone(names)
	slices.Reverse(reversed)
	for n := 1; n <= 5; n++ {
		var all []string
		for i := 1; i <= n; i++ {
			a, _ := Select(names, Shard{i, n})
			b, _ := Select(reversed, Shard{i, n})
			if !slices.Equal(a, b) {
				t.Errorf("shard %d/%d: %v given one order, %v given another", i, n, a, b)
			}
			if len(a) < len(names)/n || len(a) > len(names)/n+1 {
				t.Errorf("shard %d/%d holds %d of %d: unbalanced", i, n, len(a), len(names))
			}
			all = append(all, a...)
		}
		slices.Sort(all)
		if want, _ := Select(names, Shard{}); !slices.Equal(all, want) {
			t.Errorf("%d shards together hold %v, want %v", n, all, want)
		}
	}
}

func TestSelectRefusesDuplicates(t *testing.T) {
	_, err := Select([]string{"etcd3", "pxe-smoke", "etcd3"}, Shard{1, 2})
	if err == nil || err.Error() != "scenario etcd3 is given twice" {
		t.Fatalf("Select with etcd3 twice = %v, want %q", err, "scenario etcd3 is given twice")
	}
}
