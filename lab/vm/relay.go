package vm

import (
	"fmt"
	"strings"

	"github.com/labctl/labctl/lab"
)

// The ids of what a delay or reorder fault adds to a machine's QEMU,
// whichever provider runs it: two socket chardevs to the lab process's
// relay (lab/netem) and the two filter-redirectors on the NIC's netdev.
const (
	relayOut = "labctl-link-out"
	relayIn  = "labctl-link-in"
)

// RelayOn is the QMP commands, in order, that send the frames the guest
// sends on netdev to the relay (f.LinkOut) instead of the segment, and
// put what the relay hands back (f.LinkIn) on the segment in their place.
// QEMU calls the guest's output its netdev's rx queue, and walks that
// queue's filters last added first: the redirector that takes the frames
// back is added first, or a frame handed back would be sent out again.
// A chardev connects to its socket as it is added: the relay listens first.
func RelayOn(netdev string, f lab.MachineFiles) []string {
	chardev := func(id, path string) string {
		return fmt.Sprintf(`{"execute":"chardev-add","arguments":{"id":%q,"backend":{"type":"socket","data":{"addr":{"type":"unix","data":{"path":%q}},"server":false}}}}`, id, path)
	}
	filter := func(id, dir string) string {
		return fmt.Sprintf(`{"execute":"object-add","arguments":{"qom-type":"filter-redirector","id":%q,"netdev":%q,"queue":"rx",%q:%q}}`, id, netdev, dir, id)
	}
	return []string{
		chardev(relayOut, f.LinkOut),
		chardev(relayIn, f.LinkIn),
		filter(relayIn, "indev"),
		filter(relayOut, "outdev"),
	}
}

// RelayOff is the QMP commands that take the relay off again: the frames
// go straight to the segment before the way back is closed.
var RelayOff = []string{
	fmt.Sprintf(`{"execute":"object-del","arguments":{"id":%q}}`, relayOut),
	fmt.Sprintf(`{"execute":"object-del","arguments":{"id":%q}}`, relayIn),
	fmt.Sprintf(`{"execute":"chardev-remove","arguments":{"id":%q}}`, relayOut),
	fmt.Sprintf(`{"execute":"chardev-remove","arguments":{"id":%q}}`, relayIn),
}

// RelayGone reports whether err, one of RelayOff's, says there was nothing
// to take off (healed already, or never fully attached).
func RelayGone(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "No such"))
}
