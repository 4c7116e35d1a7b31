// Package protocols maps each BMC protocol an inventory can name to the
// client package that speaks it.
package protocols

import (
	"context"
	"net"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/ipmi"
	"github.com/labctl/labctl/bmc/redfish"
)

// Dialers returns a dialer for every protocol labctl speaks.
func Dialers() map[bmc.Protocol]bmc.Dialer {
	return map[bmc.Protocol]bmc.Dialer{
		bmc.IPMI:    ipmi.Dial,
		bmc.Redfish: redfish.Dial,
	}
}

// DialersVia returns the same dialers with every connection made by dial,
// for example inside a lab's network namespace (netns.Dialer).
func DialersVia(dial func(ctx context.Context, network, addr string) (net.Conn, error)) map[bmc.Protocol]bmc.Dialer {
	return map[bmc.Protocol]bmc.Dialer{
		bmc.IPMI:    ipmi.DialVia(dial),
		bmc.Redfish: redfish.DialVia(dial),
	}
}
