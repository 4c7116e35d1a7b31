package vm

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
)

// RetryUEFIBoots does for l's UEFI machines what SeaBIOS does by itself
// (RebootTimeout): a machine left at the UEFI shell is reset RebootTimeout
// later, so that it tries the network again until DHCP and the boot service
// answer, as a rack's servers set to retry their boot do. It reads their
// serial logs every second until ctx ends. A machine that did anything in
// those seconds (powered off, reset by its BMC, a key typed at the shell)
// is left alone.
func RetryUEFIBoots(ctx context.Context, l *lab.Lab, pd lab.PowerDriver, log *slog.Logger) {
	type console struct {
		path  string
		seen  int64 // bytes of the log looked at
		shell int64 // the log's size when the prompt was seen, or 0
		at    time.Time
	}
	consoles := map[string]*console{}
	for _, m := range l.Machines {
		if m.Firmware == lab.UEFI {
			// From the log's end: a prompt from before this lab process
			// (a restored lab's) is not a boot failing now.
			c := &console{path: l.MachineFiles(m.Name).SerialLog}
			c.seen = fileSize(c.path)
			consoles[m.Name] = c
		}
	}
	if len(consoles) == 0 {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for name, c := range consoles {
			size := fileSize(c.path)
			switch {
			case c.shell != 0 && size != c.shell:
				c.shell = 0 // it moved on, or started again (a new log)
			case c.shell != 0 && time.Since(c.at) >= RebootTimeout:
				c.shell = 0
				if s, err := pd.PowerState(ctx, l, name); err != nil || s != power.On {
					continue
				}
				log.Info("UEFI machine found nothing to boot; starting it again", "machine", name)
				if err := pd.SetPower(ctx, l, name, power.ActionReset); err != nil && ctx.Err() == nil {
					log.Warn("retry boot", "machine", name, "err", err)
				}
				continue
			}
			if size < c.seen {
				c.seen = 0 // a new log: the machine started again
			}
			if size == c.seen {
				continue
			}
			// From a prompt's length back, for one split across reads.
			from := max(0, c.seen-int64(len(firmware.OVMFShellPrompt))+1)
			if bytes.Contains(readFrom(c.path, from, size), []byte(firmware.OVMFShellPrompt)) {
				c.shell, c.at = size, time.Now()
			}
			c.seen = size
		}
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom is path's bytes from off to end, or none.
func readFrom(path string, off, end int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, off, end-off))
	return b
}
