package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/providers"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/sshkeys"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/lab/vm"
)

// Load reads the state of the lab a SCENARIO argument names, under root,
// saying so plainly when it is not up (a *NotUpError).
func Load(root, arg string) (*state.State, error) {
	name, err := NameOf(arg)
	if err != nil {
		return nil, err
	}
	st, err := state.Load(state.Dir(root, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NotUpError{Name: name, Root: root}
	}
	return st, err
}

// NotUpError is a lab with no state where labs were looked for (Root); it
// matches os.ErrNotExist.
type NotUpError struct {
	Name, Root string
}

func (e *NotUpError) Error() string {
	return fmt.Sprintf("lab %s is not up (labs are looked for in %s)", e.Name, e.Root)
}
func (e *NotUpError) Unwrap() error { return os.ErrNotExist }

// Lab is a lab that is up, as the commands chain on it: `up` and `test` get
// one from Up, `verify` from Open; each then runs Converge, `test` also
// Collect and (unless kept) Down.
type Lab struct {
	State    *state.State
	Scenario *scenario.Scenario
	report   Reporter
	// history says the lab's logs already hold a run (a lab opened, or
	// restored from a snapshot): Converge reports only what follows, not
	// that run again at 0.0s.
	history bool
}

// Open is the lab a SCENARIO argument names (under root), with the scenario
// it was brought up from; its events go to rep (nil: nowhere).
func Open(root, arg string, rep Reporter) (*Lab, error) {
	st, err := Load(root, arg)
	if err != nil {
		return nil, err
	}
	sc, err := scenario.Find(st.Source)
	if err != nil {
		return nil, err
	}
	return &Lab{State: st, Scenario: sc, report: reporter(rep), history: true}, nil
}

// Name is the lab's name, its scenario's.
func (lb *Lab) Name() string { return lb.State.Lab.Name }

// Down takes the lab down (see the package's Down).
func (lb *Lab) Down(ctx context.Context) error { return Down(ctx, lb.State.Lab.Dir, lb.report) }

// Provider is the provider of a lab that is up, as the CLI drives it:
// quietly, since the lab process keeps the lab's log.
func Provider(st *state.State) (lab.Provider, error) {
	return providers.New(st.Provider, providers.Config{Accel: vm.Accel(st.Accel)})
}

// MachineFiles are the files of machine node of the lab a SCENARIO
// argument names (under root): its serial log, its console socket.
func MachineFiles(root, scenario, node string) (lab.MachineFiles, error) {
	st, err := Load(root, scenario)
	if err != nil {
		return lab.MachineFiles{}, err
	}
	if _, _, err := st.Lab.Machine(node); err != nil {
		return lab.MachineFiles{}, err
	}
	return st.Lab.MachineFiles(node), nil
}

// MachineLog is what the boot service's machine log holds of machine node
// of the lab a SCENARIO argument names (under root): a rack's server has no
// serial console of labctl's (its console is its BMC's). nil: the machine
// asked the boot service nothing yet.
func MachineLog(ctx context.Context, root, scenario, node string) (*bootlog.Record, error) {
	st, err := Load(root, scenario)
	if err != nil {
		return nil, err
	}
	m, _, err := st.Lab.Machine(node)
	if err != nil {
		return nil, err
	}
	rs, err := progress.BootLog(st.Lab).Records(ctx)
	if err != nil {
		return nil, fmt.Errorf("the boot service's machine log: %w", err)
	}
	return bootlog.Find(rs, m.MAC, m.UUID), nil
}

// IsRack says whether the lab a SCENARIO argument names (under root) runs
// on a rack's servers.
func IsRack(root, scenario string) bool {
	st, err := Load(root, scenario)
	return err == nil && st.Lab.Rack != nil
}

// SSH connects to machine node of the lab a SCENARIO argument names (under
// root) with the lab's key, checking the host key made for it, from inside
// the lab's namespace.
func SSH(ctx context.Context, root, scenario, node string) (*ssh.Client, error) {
	st, err := Load(root, scenario)
	if err != nil {
		return nil, err
	}
	m, _, err := st.Lab.Machine(node)
	if err != nil {
		return nil, err
	}
	keys, err := sshkeys.ForLab(st.Lab)
	if err != nil {
		return nil, err
	}
	return (&check.SSH{Keys: keys, Dial: netns.Dialer(st.Lab.Netns)}).Client(ctx, m)
}

// NameOf is the lab a SCENARIO argument names: a built-in scenario's name
// as is, a scenario directory by the name in its scenario.yaml. Names that
// could reach outside the state directory are refused.
func NameOf(arg string) (string, error) {
	name := arg
	if strings.ContainsRune(arg, os.PathSeparator) {
		sc, err := scenario.Find(arg)
		if err != nil {
			return "", fmt.Errorf("lab %q: not a lab name, nor a scenario directory: %w", arg, err)
		}
		name = sc.Name
	}
	if err := state.CheckName(name); err != nil {
		return "", err
	}
	return name, nil
}

// RequireRoot refuses, saying why, to do what needs root: network
// namespaces, bridges, taps and the lab's processes in them.
func RequireRoot(what string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("labctl needs root to %s (network namespaces, bridges, taps): run it as root, e.g. with sudo", what)
	}
	return nil
}
