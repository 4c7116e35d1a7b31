package progress

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/bootsvc/bootsvctest"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/state"
)

// poweredOn is a rack whose servers are all on: what is judged here is
// the address the boot service saw, not power.
type poweredOn struct{}

func (poweredOn) PowerState(context.Context, *lab.Lab, string) (power.State, error) {
	return power.On, nil
}
func (poweredOn) SetPower(context.Context, *lab.Lab, string, power.Action) error { return nil }
func (poweredOn) SetBootDevice(context.Context, *lab.Lab, string, power.BootDevice, power.BootOptions) error {
	return nil
}

// A rack's server that asks the boot service from another address than
// the inventory's fails at once, naming the machine, its server, both
// addresses and the inventory; the same request in a lab of VMs does not.
func TestRackServerAtAnotherAddressFails(t *testing.T) {
	_, srv := bootsvctest.Serve(t)
	// The server asks from 127.0.0.1; the inventory reserves 10.79.0.11.
	resp, err := http.Get(srv.URL + "/ipxe?mac=52-54-00-79-00-11")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	mac, _ := net.ParseMAC("52:54:00:79:00:11")
	for _, tt := range []struct {
		name string
		rack *lab.Rack
		want string
	}{
		{"rack", &lab.Rack{Inventory: "/etc/labctl/rack.yaml", Servers: map[string]string{"node1": "rack1"}, DHCP: "proxy"},
			"machine node1 (server rack1): the boot service saw it at 127.0.0.1, but inventory /etc/labctl/rack.yaml gives its address as 10.79.0.11"},
		{"VMs", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := &lab.Lab{Name: "etcd3", Dir: t.TempDir(), Rack: tt.rack,
				Machines: []lab.Machine{{Name: "node1", MAC: mac, IP: netip.MustParseAddr("10.79.0.11")}}}
			if err := state.Create(&state.State{Lab: l, Phase: state.Running}); err != nil {
				t.Fatal(err)
			}
			w := NewWatcher(l, poweredOn{})
			w.BootLog = &bootlog.Client{URL: srv.URL, HTTP: srv.Client()}
			snap := w.Poll(context.Background())
			switch {
			case tt.want == "" && len(snap.Failures) > 0:
				t.Errorf("failures %v, want none", snap.Failures)
			case tt.want != "" && (len(snap.Failures) != 1 || !strings.Contains(snap.Failures[0].Error(), tt.want)):
				t.Errorf("failures %v, want one with %q", snap.Failures, tt.want)
			}
		})
	}
}
