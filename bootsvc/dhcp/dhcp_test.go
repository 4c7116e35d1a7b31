package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
)

var link = Link{Name: "rack0", Addr: netip.MustParsePrefix("10.88.0.1/24")}

// inv is the reservations of machines as an inventory rack.yaml lists them.
func inv(machines ...Reservation) []Reservation {
	for i := range machines {
		machines[i].Field = fmt.Sprintf("rack.yaml: machines[%d] (%s)", i, machines[i].Name)
	}
	return machines
}

func machine(name, mac, addr string) Reservation {
	m := Reservation{Name: name}
	if mac != "" {
		m.MAC, _ = net.ParseMAC(mac)
	}
	if addr != "" {
		m.Address = netip.MustParseAddr(addr)
	}
	return m
}

func rng(a, b string) [2]netip.Addr {
	return [2]netip.Addr{netip.MustParseAddr(a), netip.MustParseAddr(b)}
}

// Full mode's reservations and range are judged against the interface, each
// refusal naming what is at fault; proxy mode hands out nothing.
func TestConfig(t *testing.T) {
	base := Options{Domain: "rack.test", BootPort: 8080, Dir: "/run/x"}
	tests := []struct {
		name    string
		mode    Mode
		inv     []Reservation
		rng     [2]netip.Addr
		want    string // in the rendered config
		wantErr string
	}{
		{name: "proxy", mode: Proxy, want: "dhcp-range=10.88.0.0,proxy,255.255.255.0"},
		{name: "proxy boots iPXE from the interface's address", mode: Proxy, want: `"iPXE",http://10.88.0.1:8080/boot.ipxe`},
		{name: "full: reservation", mode: Full, inv: inv(machine("node1", "52:54:00:88:00:10", "10.88.0.10")), want: "dhcp-host=52:54:00:88:00:10,10.88.0.10,node1"},
		{name: "full: range", mode: Full, rng: rng("10.88.0.100", "10.88.0.150"), want: "dhcp-range=10.88.0.100,10.88.0.150,255.255.255.0,1h"},
		{name: "range holds the interface's address", mode: Full, rng: rng("10.88.0.1", "10.88.0.20"), wantErr: "range 10.88.0.1-10.88.0.20 holds 10.88.0.1, the address of interface rack0"},
		{name: "range ends before it starts", mode: Full, rng: rng("10.88.0.20", "10.88.0.10"), wantErr: "range 10.88.0.20-10.88.0.10 ends before it starts"},
		{name: "range outside the subnet", mode: Full, rng: rng("10.88.1.10", "10.88.1.20"), wantErr: "range 10.88.1.10-10.88.1.20 is outside 10.88.0.0/24, the subnet of interface rack0"},
		{name: "reservation of the interface's address", mode: Full, inv: inv(machine("node1", "52:54:00:88:00:10", "10.88.0.1")), wantErr: "rack.yaml: machines[0] (node1).address: 10.88.0.1 is the address of interface rack0"},
		{name: "reservation outside the subnet", mode: Full, inv: inv(machine("node1", "52:54:00:88:00:10", "10.9.0.1")), wantErr: "rack.yaml: machines[0] (node1).address: 10.9.0.1 is outside 10.88.0.0/24"},
		{name: "reservation without a MAC", mode: Full, inv: inv(machine("node1", "", "10.88.0.10")), wantErr: "rack.yaml: machines[0] (node1).mac: required for the reservation of address 10.88.0.10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			o.Mode, o.Reservations, o.Range = tt.mode, tt.inv, tt.rng
			c, err := Config(o, link)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			text, err := c.Render()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text, tt.want+"\n") {
				t.Errorf("config lacks %q:\n%s", tt.want, text)
			}
			if tt.mode == Proxy && (strings.Contains(text, "dhcp-host") || strings.Contains(text, "static")) {
				t.Errorf("a proxy hands out addresses:\n%s", text)
			}
		})
	}
}

func TestParse(t *testing.T) {
	if _, err := ParseMode("half"); err == nil || !strings.Contains(err.Error(), `"half": want proxy, full or none`) {
		t.Errorf("ParseMode(half) = %v", err)
	}
	if r, err := ParseRange("10.0.0.10-10.0.0.20"); err != nil || r != rng("10.0.0.10", "10.0.0.20") {
		t.Errorf("ParseRange = %v, %v", r, err)
	}
	for _, bad := range []string{"10.0.0.10", "10.0.0.10-x", "fd00::1-fd00::2"} {
		if _, err := ParseRange(bad); err == nil || !strings.Contains(err.Error(), "want START-END, two IPv4 addresses") {
			t.Errorf("ParseRange(%q) = %v", bad, err)
		}
	}
}

// Inspect reads the interface as it is: lo is up with 127.0.0.1/8.
func TestInspect(t *testing.T) {
	l, err := Inspect("lo")
	if err != nil || l.Addr != netip.MustParsePrefix("127.0.0.1/8") {
		t.Errorf("Inspect(lo) = %v, %v", l, err)
	}
	if _, err := Inspect("nope-if0"); err == nil || !strings.Contains(err.Error(), "interface nope-if0 does not exist") {
		t.Errorf("Inspect(nope-if0) = %v", err)
	}
}
