package check

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// DefaultHookTimeout bounds a hook that sets no timeout of its own.
const DefaultHookTimeout = 2 * time.Minute

// RunHook runs a scenario's reprovision hook for the machines named: on
// h.Node, or on each of them when h.Node is empty, with LABCTL_MACHINES
// naming them. Each run is retried until it exits 0 or the hook's timeout
// passes (a drain waits for pods to go, an uncordon for the API server to
// answer). It returns each machine's output of the run that succeeded,
// by name; the error names the machine it ran on and ends with its output.
func RunHook(ctx context.Context, sh Shell, l *lab.Lab, h scenario.Hook, machines []string, interval time.Duration) (map[string]string, error) {
	on := machines
	if h.Node != "" {
		on = []string{h.Node}
	}
	timeout := time.Duration(h.Timeout)
	if timeout == 0 {
		timeout = DefaultHookTimeout
	}
	cmd := "LABCTL_MACHINES=" + shellQuote(strings.Join(machines, " ")) + "; export LABCTL_MACHINES\n" + h.Run
	outputs := map[string]string{}
	for _, name := range on {
		m, _, err := l.Machine(name)
		if err != nil {
			return outputs, err
		}
		out, err := runUntilOK(ctx, sh, m, cmd, timeout, interval)
		if err != nil {
			return outputs, fmt.Errorf("%s: %w", name, err)
		}
		outputs[name] = out
	}
	return outputs, nil
}

// runUntilOK runs cmd on m until it exits 0, or fails when timeout passes
// with the last complete attempt's exit status and output (the attempt the
// deadline cut short explains nothing).
func runUntilOK(ctx context.Context, sh Shell, m lab.Machine, cmd string, timeout, interval time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for attempts := 1; ; attempts++ {
		out, status, err := sh.Run(ctx, m, cmd)
		switch {
		case err == nil && status == 0:
			return out, nil
		case err == nil:
			last = fmt.Errorf("exit status %d: %s", status, tail(out))
		case ctx.Err() == nil || last == nil:
			last = err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%d attempts in %s, the last: %w", attempts, timeout, last)
		case <-time.After(interval):
		}
	}
}
