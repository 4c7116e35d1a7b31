package fault

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// machineShell runs a command in a real shell on this host, with the
// machine's name in $M: the machines differ only in that.
type machineShell struct{}

func (machineShell) Run(ctx context.Context, m lab.Machine, cmd string) (string, int, error) {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Env = append(os.Environ(), "M="+m.Name)
	out, err := c.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode(), nil
	}
	return string(out), 0, err
}

// TestPick: where picks the machines on which it exits 0, keeps their
// order and is cleared (what is recorded and healed is what was picked);
// none matching is an error naming the candidates.
func TestPick(t *testing.T) {
	l := &lab.Lab{Name: "t"}
	for i, name := range []string{"n1", "n2", "n3"} {
		l.Machines = append(l.Machines, lab.Machine{Name: name, MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, byte(i + 1)}})
	}
	env := Env{Lab: l, Shell: machineShell{}}
	kill := scenario.Fault{Kind: scenario.FaultKill, Unit: "etcd.service", Machines: []string{"n1", "n2", "n3"}}
	tests := []struct {
		name, where string
		want        []string
		err         string
	}{
		{"none asked", "", []string{"n1", "n2", "n3"}, ""},
		{"the leader", `[ "$M" = n2 ]`, []string{"n2"}, ""},
		{"two, in order", `[ "$M" != n2 ]`, []string{"n1", "n3"}, ""},
		{"nobody", "exit 1", nil, "where: no machine of n1,n2,n3 matched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := kill
			f.Where = tt.where
			got, err := Pick(context.Background(), env, f)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Machines, tt.want) || got.Where != "" || got.Unit != "etcd.service" {
				t.Errorf("picked %+v, want machines %v and no where", got, tt.want)
			}
		})
	}
}
