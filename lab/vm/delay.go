package vm

import (
	"fmt"
	"strings"
	"time"
)

// DelayFilter is the id of the QEMU filter-buffer a delay fault puts on a
// machine's netdev, whichever provider runs the machine.
const DelayFilter = "labctl-delay"

// DelayOn is the QMP command that holds the frames to and from netdev and
// releases them together every d (each frame waits up to d). netem would
// delay each frame by a set time, but this machine's kernel has none, and
// QEMU's filter needs nothing of the host.
func DelayOn(netdev string, d time.Duration) string {
	return fmt.Sprintf(`{"execute":"object-add","arguments":{"qom-type":"filter-buffer","id":%q,"netdev":%q,"queue":"all","interval":%d}}`,
		DelayFilter, netdev, d.Microseconds())
}

// DelayOff is the QMP command that takes the filter off.
var DelayOff = fmt.Sprintf(`{"execute":"object-del","arguments":{"id":%q}}`, DelayFilter)

// DelayGone reports whether err, DelayOff's, says there was no filter to
// take off (healed already).
func DelayGone(err error) bool {
	return err != nil && strings.Contains(err.Error(), "not found")
}
