package state

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
)

func testLab(dir string) *lab.Lab {
	mac, _ := net.ParseMAC("52:54:00:77:00:11")
	return &lab.Lab{
		Name: "t", Netns: "labctl-t", Dir: dir,
		Network: lab.Network{Name: "labbr0", Subnet: netip.MustParsePrefix("10.77.0.0/24"), Gateway: netip.MustParseAddr("10.77.0.1"), Domain: "t.lab"},
		Machines: []lab.Machine{{Name: "m1", MAC: mac, UUID: "7d3c0b1e-0b6a-4d51-9c39-000000000011", IP: netip.MustParseAddr("10.77.0.11"),
			MemoryMiB: 512, VCPUs: 1, DiskGiB: 1, Firmware: lab.UEFI, Boot: []power.BootDevice{power.BootNetwork, power.BootDisk}}},
	}
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t")
	want := &State{Source: "pxe-smoke", Lab: testLab(dir), Provider: "qemu", Phase: Starting}
	if err := Create(want); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		role string
		pid  int
	}{
		{"record labd", "labd", 100},
		{"record qemu", "qemu/m1", 101},
		{"forget labd", "labd", 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := SetPid(dir, st.role, st.pid); err != nil {
				t.Fatal(err)
			}
		})
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Lab, want.Lab) {
		t.Errorf("lab = %+v, want %+v", got.Lab, want.Lab)
	}
	if !reflect.DeepEqual(got.Pids, map[string]int{"qemu/m1": 101}) {
		t.Errorf("pids = %v", got.Pids)
	}
	if got.Source != "pxe-smoke" || got.Provider != "qemu" || got.Phase != Starting {
		t.Errorf("state = %+v", got)
	}
	// No temporary files are left beside the state.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != FileName && e.Name() != "state.lock" {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

func TestCreateTwiceFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t")
	if err := Create(&State{Lab: testLab(dir)}); err != nil {
		t.Fatal(err)
	}
	err := Create(&State{Lab: testLab(dir)})
	var up *UpError
	if !errors.As(err, &up) || up.Dir != dir || !strings.Contains(err.Error(), "is already up (state in "+dir+")") {
		t.Fatalf("second Create = %v; want an UpError naming %s", err, dir)
	}
}

func TestLoadMissing(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
	if err := Update(filepath.Join(t.TempDir(), "gone"), func(*State) {}); err == nil {
		t.Fatal("Update of a missing lab succeeded")
	}
}
