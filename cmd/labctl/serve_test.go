package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeRefusesBadData(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "groups"), 0o755)
	os.WriteFile(filepath.Join(dir, "groups", "bad.json"), []byte("{"), 0o644)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no data flag", nil, []string{"serve"}, `"data" not set`},
		{"bad file via LABCTL_DATA", map[string]string{"LABCTL_DATA": dir}, []string{"serve", "--address", "127.0.0.1:0"}, "groups/bad.json"},
		{"no machines kept", nil, []string{"serve", "--data", dir, "--max-machines", "0"}, "--max-machines: 0 is not a positive number"},
		{"LABCTL_MAX_MACHINES not a number", map[string]string{"LABCTL_MAX_MACHINES": "many"}, []string{"serve", "--data", dir}, "environment variable LABCTL_MAX_MACHINES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			root := newRootCmd()
			root.SetArgs(tt.args)
			err := root.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// --dhcp full reserves the addresses the inventory gives, each named by its
// entry; a machine without one is left to whatever address it gets.
func TestReservations(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "rack.yaml")
	os.WriteFile(inv, []byte(`machines:
  - name: node1
    mac: 52:54:00:88:00:10
    bmc: [{protocol: ipmi, address: "10.88.0.200:623", username: admin, password_env: X}]
  - name: node2
    mac: 52:54:00:88:00:11
    address: 10.88.0.11
    bmc: [{protocol: ipmi, address: "10.88.0.201:623", username: admin, password_env: X}]
`), 0o644)
	res, err := reservations(inv)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Name != "node2" || res[0].MAC.String() != "52:54:00:88:00:11" || res[0].Address.String() != "10.88.0.11" ||
		res[0].Field != inv+": machines[1] (node2)" {
		t.Errorf("reservations = %+v, want node2's alone, named by its entry", res)
	}
}
