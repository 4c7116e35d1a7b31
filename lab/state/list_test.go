package state

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	root := t.TempDir()
	up := func(name, source string, phase Phase) {
		l := testLab(filepath.Join(root, name))
		l.Name = name
		if err := Create(&State{Source: source, Lab: l, Provider: "qemu", Phase: phase}); err != nil {
			t.Fatal(err)
		}
	}
	up("b-lab", "pxe-smoke", Running)
	up("a-lab", "./mine", Starting)
	if err := Update(filepath.Join(root, "a-lab"), func(s *State) { s.Phase, s.Error = Failed, "qemu died" }); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "taken-down"), 0o700) // a directory without state is no lab
	os.MkdirAll(filepath.Join(root, "garbled"), 0o700)
	os.WriteFile(filepath.Join(root, "garbled", FileName), []byte("{"), 0o600)
	os.WriteFile(filepath.Join(root, "stray-file"), nil, 0o600)
	// A test's artifacts kept beside the labs hold a copy of b-lab's state.
	os.MkdirAll(filepath.Join(root, "artifacts"), 0o700)
	if raw, err := os.ReadFile(filepath.Join(root, "b-lab", FileName)); err != nil {
		t.Fatal(err)
	} else {
		os.WriteFile(filepath.Join(root, "artifacts", FileName), raw, 0o600)
	}
	if _, err := Load(filepath.Join(root, "artifacts")); !errors.Is(err, ErrCopy) || !strings.Contains(err.Error(), "records lab b-lab in "+filepath.Join(root, "b-lab")) {
		t.Errorf("Load of a copied state: %v, want ErrCopy naming b-lab and its directory", err)
	}

	got, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name, scenario, provider string
		phase                    Phase
		machines                 []string
		err                      string
	}
	want := []row{
		{"a-lab", "./mine", "qemu", Failed, []string{"m1"}, "qemu died"},
		{"b-lab", "pxe-smoke", "qemu", Running, []string{"m1"}, ""},
		{"garbled", "", "", Unknown, []string{}, filepath.Join(root, "garbled", FileName) + ": unexpected end of JSON input"},
	}
	if len(got) != len(want) {
		t.Fatalf("List = %+v, want %d labs", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if r := (row{g.Name, g.Scenario, g.Provider, g.Phase, g.Machines, g.Error}); !reflect.DeepEqual(r, w) {
			t.Errorf("lab %d = %+v, want %+v", i, r, w)
		}
		if g.Dir != filepath.Join(root, w.name) {
			t.Errorf("lab %s: dir %s", g.Name, g.Dir)
		}
		if w.phase != Unknown && g.Created.IsZero() {
			t.Errorf("lab %s: no creation time", g.Name)
		}
	}
}

func TestListEmpty(t *testing.T) {
	for name, root := range map[string]string{"empty": t.TempDir(), "missing": filepath.Join(t.TempDir(), "none")} {
		t.Run(name, func(t *testing.T) {
			got, err := List(root)
			if err != nil || got == nil || len(got) != 0 {
				t.Errorf("List = %#v, %v; want an empty list", got, err)
			}
		})
	}
}

func TestListUnreadableRoot(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	if _, err := List(file); err == nil || !strings.Contains(err.Error(), "list labs: ") || !strings.Contains(err.Error(), file) {
		t.Errorf("List(a file) = %v, want an error naming it", err)
	}
}
