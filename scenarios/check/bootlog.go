package check

import (
	"context"
	"net"
	"strings"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/lab"
)

// BootLogFunc adapts a function to BootLog.
type BootLogFunc func(ctx context.Context) ([]bootsvc.Machine, error)

func (f BootLogFunc) Machines(ctx context.Context) ([]bootsvc.Machine, error) { return f(ctx) }

// matches says whether the boot service's record rec is machine m's.
func matches(rec bootsvc.Machine, m lab.Machine) bool {
	if mac, err := net.ParseMAC(rec.MAC); err == nil && mac.String() == m.MAC.String() {
		return true
	}
	return rec.UUID != "" && strings.EqualFold(rec.UUID, m.UUID)
}
