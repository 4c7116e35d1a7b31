package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/providers"
	"github.com/labctl/labctl/lab/sshkeys"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/lab/vm"
	"github.com/labctl/labctl/scenarios"
	"github.com/labctl/labctl/scenarios/check"
)

// LabName is the lab a SCENARIO argument names: a built-in name as is, a
// directory by the name in its scenario.yaml.
func LabName(arg string) string {
	if strings.ContainsRune(arg, os.PathSeparator) {
		if sc, err := scenarios.Find(arg); err == nil {
			return sc.Name
		}
	}
	return arg
}

// Load reads the state of the lab a SCENARIO argument names, under root,
// saying so plainly when it is not up.
func Load(root, arg string) (*state.State, error) {
	name := LabName(arg)
	st, err := state.Load(state.Dir(root, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab %s is not up", name)
	}
	return st, err
}

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
	if _, _, err := st.Lab.MachineByName(node); err != nil {
		return lab.MachineFiles{}, err
	}
	return st.Lab.MachineFiles(node), nil
}

// SSH connects to machine node of the lab a SCENARIO argument names (under
// root) with the lab's key, checking the host key made for it, from inside
// the lab's namespace.
func SSH(ctx context.Context, root, scenario, node string) (*ssh.Client, error) {
	st, err := Load(root, scenario)
	if err != nil {
		return nil, err
	}
	m, _, err := st.Lab.MachineByName(node)
	if err != nil {
		return nil, err
	}
	keys, err := sshkeys.ForLab(st.Lab)
	if err != nil {
		return nil, err
	}
	return (&check.SSH{Keys: keys, Dial: netns.Dialer(st.Lab.Netns)}).Client(ctx, m)
}
