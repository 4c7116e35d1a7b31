package scenario

import (
	"slices"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	list, err := List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
		if s.Description == "" || strings.Contains(s.Description, "\n") {
			t.Errorf("%s: description %q is not one line", s.Name, s.Description)
		}
		if len(s.Images) == 0 || len(s.Machines) == 0 {
			t.Errorf("%s: images %v, machines %v", s.Name, s.Images, s.Machines)
		}
	}
	if !slices.Equal(names, Names()) {
		t.Errorf("List names %v, want every built-in scenario %v", names, Names())
	}
	i := slices.IndexFunc(list, func(s Summary) bool { return s.Name == "pxe-smoke" })
	if i < 0 {
		t.Fatal("pxe-smoke is not listed")
	}
	if got := list[i]; !slices.Equal(got.Images, []string{"smoke"}) || !slices.Equal(got.Machines, []string{"bios1", "uefi1"}) {
		t.Errorf("pxe-smoke = %+v", got)
	}
}

func TestHeadline(t *testing.T) {
	tests := []struct{ description, want string }{
		{"One line.", "One line."},
		{"Folded\n  over lines. Then details.\n", "Folded over lines."},
		{"No full stop", "No full stop"},
		{"Version 1.2 stays whole. Then more.", "Version 1.2 stays whole."},
	}
	for _, tt := range tests {
		if got := (&Scenario{Description: tt.description}).Headline(); got != tt.want {
			t.Errorf("Headline(%q) = %q, want %q", tt.description, got, tt.want)
		}
	}
}
