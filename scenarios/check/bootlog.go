package check

import (
	"context"

	"github.com/labctl/labctl/bootsvc"
)

// BootLogFunc adapts a function to BootLog.
type BootLogFunc func(ctx context.Context) ([]bootsvc.Machine, error)

func (f BootLogFunc) Machines(ctx context.Context) ([]bootsvc.Machine, error) { return f(ctx) }
