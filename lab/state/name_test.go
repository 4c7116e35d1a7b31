package state

import (
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name, want string // want: "" for a good name, else part of the error
	}{
		{"pxe-smoke", ""},
		{"etcd3", ""},
		{"", "empty"},
		{"../etc", `"../etc" contains a path separator`},
		{"a/b", `"a/b" contains a path separator`},
		{`a\b`, "path separator"},
		{"..", `".." contains ".."`},
		{"a..b", `contains ".."`},
		{".", `"." is not a scenario name`},
		{"Upper", `"Upper" is not a scenario name`},
		{"-x", "not a scenario name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckName(tt.name)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckName(%q) = %v", tt.name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckName(%q) = %v, want an error containing %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestOwnsNetns(t *testing.T) {
	tests := []struct {
		name string
		s    State
		want bool
	}{
		{"recorded", State{MadeNetns: true}, true},
		{"written before made_netns existed, lab process recorded", State{Pids: map[string]int{"labd": 42}}, true},
		{"up failed before making it", State{}, false},
	}
	for _, tt := range tests {
		if got := tt.s.OwnsNetns(); got != tt.want {
			t.Errorf("%s: OwnsNetns = %v, want %v", tt.name, got, tt.want)
		}
	}
}
