package fault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/labctl/labctl/lab/scenario"
)

// killScript kills the unit's main process with SIGKILL and waits (5 s at
// most) until the process is gone: exit 0 "killed PID"; 3 when the unit
// has no main process; 4 when it outlived SIGKILL. A zombie counts as gone.
const killScript = `u=%s
pid=$(systemctl show -p MainPID --value "$u")
[ "${pid:-0}" -gt 0 ] || { echo "$u has no main process"; exit 3; }
kill -9 "$pid"
alive() { [ -d /proc/$1 ] && ! grep -q '^State:[[:space:]]*Z' /proc/$1/status 2>/dev/null; }
for i in $(seq 50); do alive "$pid" || { echo "killed $pid"; exit 0; }; sleep 0.1; done
echo "$pid still alive 5s after SIGKILL"; exit 4`

// kill kills the unit's main process on each machine, as a crash would,
// and proves that process gone.
func kill(ctx context.Context, env Env, f scenario.Fault) error {
	return onEach(f.Machines, func(name string) error {
		m, _, err := env.Lab.Machine(name)
		if err != nil {
			return err
		}
		out, status, err := env.Shell.Run(ctx, m, fmt.Sprintf(killScript, shellQuote(f.Unit)))
		out = strings.TrimSpace(out)
		switch {
		case err != nil:
			return err
		case status == 4:
			return &NotEffectiveError{Fault: "kill " + f.Unit + " on " + name, Reason: out}
		case status != 0:
			return fmt.Errorf("kill %s: exit status %d: %s", f.Unit, status, out)
		}
		return nil
	})
}

// Pick resolves f.Where: f with Machines narrowed to those on which the
// command exits 0 (run on every candidate at once) and Where cleared, so
// that what is recorded and healed is what was picked. A fault without
// Where is returned as is; none matching is an error naming the command.
func Pick(ctx context.Context, env Env, f scenario.Fault) (scenario.Fault, error) {
	if f.Where == "" {
		return f, nil
	}
	var mu sync.Mutex
	var picked []string
	err := onEach(f.Machines, func(name string) error {
		m, _, err := env.Lab.Machine(name)
		if err != nil {
			return err
		}
		_, status, err := env.Shell.Run(ctx, m, f.Where)
		if err != nil {
			return err
		}
		if status == 0 {
			mu.Lock()
			picked = append(picked, name)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return f, fmt.Errorf("where: %w", err)
	}
	if len(picked) == 0 {
		return f, errors.New("where: no machine of " + strings.Join(f.Machines, ",") + " matched (the command exited non-zero on each)")
	}
	slices.SortFunc(picked, func(a, b string) int { return slices.Index(f.Machines, a) - slices.Index(f.Machines, b) })
	f.Machines, f.Where = picked, ""
	return f, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
