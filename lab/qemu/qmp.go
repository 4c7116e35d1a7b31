package qemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// monitor connects to one of a machine's QMP sockets (f.QMP, f.Events).
func monitor(socket string) (*qmp.SocketMonitor, error) {
	mon, err := qmp.NewSocketMonitor("unix", socket, time.Second)
	if err != nil {
		return nil, err
	}
	if err := mon.Connect(); err != nil {
		return nil, err
	}
	return mon, nil
}

func qmpRun(f files, cmd string) error {
	mon, err := monitor(f.QMP)
	if err != nil {
		return fmt.Errorf("QMP %s: %w", f.QMP, err)
	}
	defer mon.Disconnect()
	if _, err := mon.Run([]byte(cmd)); err != nil {
		// quit closes the socket before it answers.
		if strings.Contains(cmd, `"quit"`) && errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("QMP %s: %s: %w", f.QMP, cmd, err)
	}
	return nil
}

// qmpQuery runs cmd and decodes its answer's "return" into v.
func qmpQuery(f files, cmd string, v any) error {
	mon, err := monitor(f.QMP)
	if err != nil {
		return fmt.Errorf("QMP %s: %w", f.QMP, err)
	}
	defer mon.Disconnect()
	raw, err := mon.Run([]byte(cmd))
	if err != nil {
		return fmt.Errorf("QMP %s: %s: %w", f.QMP, cmd, err)
	}
	answer := struct{ Return any }{Return: v}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("QMP %s: %s: %w", f.QMP, cmd, err)
	}
	return nil
}
