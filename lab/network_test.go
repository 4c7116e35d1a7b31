package lab

import (
	"net/netip"
	"testing"
)

func TestRouterPrefix(t *testing.T) {
	for _, tc := range []struct {
		subnet string
		want   string
	}{
		{"10.77.0.0/24", "fd6c:6162:a4d::/64"},
		{"10.77.3.0/24", "fd6c:6162:a4d:300::/64"},
		{"192.168.7.128/25", "fd6c:6162:c0a8:780::/64"},
		{"10.77.3.9/24", "fd6c:6162:a4d:300::/64"}, // host bits do not matter
		{"", "invalid Prefix"},
	} {
		var n Network
		if tc.subnet != "" {
			n.Subnet = netip.MustParsePrefix(tc.subnet)
		}
		if got := n.RouterPrefix().String(); got != tc.want {
			t.Errorf("RouterPrefix of %q = %s, want %s", tc.subnet, got, tc.want)
		}
	}
}
