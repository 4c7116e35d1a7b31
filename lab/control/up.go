// Package control is what labctl does to labs, as library functions the CLI
// calls: bring a lab up from a scenario (writing everything the lab process
// serves, then starting it), watch it converge, collect its artifacts,
// report its status, reprovision its machines, take it down. It prints
// nothing: what happens is told to a Reporter, which the CLI renders.
package control

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/labctl/labctl/firmware"
	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/registry"
	"github.com/labctl/labctl/internal/filecopy"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/providers"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/snapshot"
	"github.com/labctl/labctl/lab/sshkeys"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/lab/vm"
)

// rackProvider is the provider of a rack's servers (lab/rack's Name).
const rackProvider = "rack"

// DaemonCommand is the hidden labctl subcommand that runs the lab process
// (labd.Run) inside the lab's namespace.
const DaemonCommand = "lab-daemon"

// UpOptions say which lab to bring up, and how.
type UpOptions struct {
	Source    string // scenario name or directory
	Provider  string // empty: providers.Default()
	Netns     string // empty: labctl-<scenario>
	StateRoot string // parent of every lab's directory
	CacheDir  string // built images; the accelerator probe's answer sits beside it
	Accel     string // kvm, tcg, or empty to probe
	IPXEDir   string // iPXE binaries; empty: Debian's
	// SignedDir holds the signed shimx64.efi and grubx64.efi that Secure
	// Boot machines boot; empty: Debian's (firmware.DebianSigned).
	SignedDir string
	Self      string   // the labctl binary, re-run as the lab process
	Report    Reporter // told each image, the accelerator, the lab's start; nil: nothing
	// FromSnapshot names a snapshot (labctl snapshot save) to restore the
	// lab from instead of booting it: same identity, machines resumed.
	FromSnapshot string
	// Rack, when set, runs the scenario on a rack's servers (see CheckRack)
	// instead of VMs: no namespace, network or VM is made.
	Rack *RackUpOptions
}

// Up checks o (see Check), builds the scenario's images, records the lab in
// its state file, writes everything the lab process serves (data directory,
// assets, TFTP root, SSH keys), and starts the lab process inside a new
// namespace, detached, so the caller may exit and the lab stays up. If a
// step fails after the state was written, it takes down what it made.
func Up(ctx context.Context, o UpOptions) (*Lab, error) {
	p, err := Check(o)
	if err != nil {
		return nil, err
	}
	return p.Up(ctx)
}

// Plan is a lab that Check accepted and Up has not made yet.
type Plan struct {
	State    *state.State       // what Up will record
	Scenario *scenario.Scenario // parsed once, here
	o        UpOptions
	accel    vm.Accel // empty: probe
	restore  bool     // from o.FromSnapshot, checked
}

// Check validates what `labctl up` was given, before anything is built or
// made: root, the scenario, the provider, the accelerator, the namespace
// name, that the lab is not up and that the namespace does not exist yet.
func Check(o UpOptions) (*Plan, error) {
	if err := RequireRoot("bring a lab up"); err != nil {
		return nil, err
	}
	sc, err := scenario.Find(o.Source)
	if err != nil {
		return nil, err
	}
	var snap *snapshot.Manifest
	if o.FromSnapshot != "" {
		// Before the lab is found up: a refused snapshot is refused whatever else.
		if snap, err = checkRestore(&o, sc.Name); err != nil {
			return nil, err
		}
	}
	var rack *RackPlan
	if o.Rack != nil {
		if snap != nil {
			return nil, fmt.Errorf("--from-snapshot restores a lab of VMs; a rack's servers boot afresh")
		}
		if o.Provider != "" || o.Netns != "" {
			return nil, fmt.Errorf("--provider and --netns are for labs of VMs; a rack's servers are driven through their BMCs, in this namespace")
		}
		if rack, err = CheckRack(sc, *o.Rack); err != nil {
			return nil, err
		}
		o.Provider = rackProvider
	}
	if o.Provider == "" {
		o.Provider = providers.Default()
	}
	if o.Provider == rackProvider && rack == nil {
		return nil, fmt.Errorf("provider %s drives a rack's servers: give --inventory, --interface and --dhcp", rackProvider)
	}
	if _, err := providers.New(o.Provider, providers.Config{}); err != nil {
		return nil, err
	}
	accel, err := vm.ParseAccel(o.Accel)
	if err != nil {
		return nil, err
	}
	if strings.ContainsRune(o.Source, os.PathSeparator) {
		if o.Source, err = filepath.Abs(o.Source); err != nil {
			return nil, err
		}
	}
	if o.Netns == "" && rack == nil {
		o.Netns = "labctl-" + sc.Name
	}
	if err := state.CheckName(sc.Name); err != nil {
		return nil, err
	}
	// Before the namespace: a lab that is up holds its namespace too, and
	// "already up" is the diagnosis the user needs.
	dir := state.Dir(o.StateRoot, sc.Name)
	if err := state.CheckNotUp(dir, sc.Name); err != nil {
		return nil, err
	}
	l := sc.Lab(dir, o.Netns)
	if rack != nil {
		l = rack.Lab(l)
	} else if err := netns.Available(o.Netns); err != nil {
		return nil, err
	}
	if l.Network.Operator.IsValid() {
		if err := netns.Available(l.OperatorNetns()); err != nil {
			return nil, err
		}
	}
	o.Report = reporter(o.Report)
	st := &state.State{Source: o.Source, Lab: l, Provider: o.Provider, Phase: state.Starting, Kubernetes: kubernetesVersion(sc)}
	if snap != nil {
		st = restoredState(snap, o.StateRoot, dir)
	}
	return &Plan{State: st, Scenario: sc, o: o, accel: accel, restore: snap != nil}, nil
}

// Up makes the lab p planned (see the package's Up).
func (p *Plan) Up(ctx context.Context) (*Lab, error) {
	o, sc, st := p.o, p.Scenario, p.State
	if p.restore {
		return p.upRestored(ctx)
	}
	// Images first, where the user sees it: the first labos build takes minutes.
	imgs, err := buildImages(ctx, sc.Images, o)
	if err != nil {
		return nil, err
	}
	st.Images = imgs
	if err := state.Create(st); err != nil {
		return nil, err
	}
	if err := start(ctx, st, sc, imgs, p.accel, o); err != nil {
		Down(context.WithoutCancel(ctx), st.Lab.Dir, o.Report)
		return nil, err
	}
	o.Report.LabStarted(st)
	return &Lab{State: st, Scenario: sc, report: o.Report}, nil
}

// buildImages builds (or finds in the cache) each image the scenario names.
func buildImages(ctx context.Context, specs []scenario.Image, o UpOptions) (map[string]string, error) {
	cache := images.OpenCache(o.CacheDir, nil)
	dirs := map[string]string{}
	for _, spec := range specs {
		name := spec.Name
		begin := time.Now()
		o.Report.ImageBuilding(name)
		img, err := registry.Image(ctx, cache, name, spec.Options)
		if err != nil {
			o.Report.ImageBuilt(name, "", time.Since(begin), err)
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		o.Report.ImageBuilt(name, img.Dir, time.Since(begin), nil)
		dirs[name] = img.Dir
	}
	return dirs, nil
}

// start writes the lab's files, chooses its accelerator, makes its
// namespace and starts the lab process.
func start(ctx context.Context, st *state.State, sc *scenario.Scenario, imgs map[string]string, accel vm.Accel, o UpOptions) error {
	l := st.Lab
	keys, err := sshkeys.ForLab(l)
	if err != nil {
		return err
	}
	tls, err := issueCertificates(sc, l)
	if err != nil {
		return err
	}
	if err := sc.WriteData(l.DataDir(), l, l.BootBaseURL(), keys, tls); err != nil {
		return fmt.Errorf("write lab data directory: %w", err)
	}
	// The boot service confines assets to their root: hard links, not symlinks.
	for name, dir := range imgs {
		if err := filecopy.LinkFiles(dir, filepath.Join(l.AssetsDir(), name)); err != nil {
			return fmt.Errorf("image %s: %w", name, err)
		}
	}
	if err := firmware.CopyTo(o.IPXEDir, l.TFTPDir()); err != nil {
		return err
	}
	if err := copySignedChain(l, o.SignedDir); err != nil {
		return err
	}
	if l.Rack != nil {
		// A rack's servers: nothing to make, labd serves in this namespace.
		_, err := launch(st, o.Self)
		return err
	}
	if accel == "" {
		var why string
		accel, why = vm.ProbeAccel(ctx, "qemu-system-x86_64", lab.AccelFile(o.CacheDir))
		o.Report.AccelProbed(accel, why)
	}
	if err := state.Update(l.Dir, func(s *state.State) { s.Accel = string(accel) }); err != nil {
		return err
	}
	st.Accel = string(accel)
	if err := makeNetns(ctx, st); err != nil {
		return err
	}
	_, err = launch(st, o.Self)
	return err
}

// upRestored makes the lab p planned from its snapshot (see startRestored),
// then waits for its machines to run and steps their clocks.
func (p *Plan) upRestored(ctx context.Context) (*Lab, error) {
	o, st := p.o, p.State
	if err := state.Create(st); err != nil {
		return nil, err
	}
	exited, err := startRestored(ctx, st, o)
	if err == nil {
		o.Report.LabStarted(st)
		err = awaitRestored(ctx, st, exited)
	}
	if err != nil {
		Down(context.WithoutCancel(ctx), st.Lab.Dir, o.Report)
		return nil, err
	}
	return &Lab{State: st, Scenario: p.Scenario, report: o.Report, history: true}, nil
}

// makeNetns makes the lab's namespace (and a simulated rack's operator
// namespace), recording each in the state as soon as it exists.
func makeNetns(ctx context.Context, st *state.State) error {
	l := st.Lab
	if err := netns.Create(ctx, l.Netns); err != nil {
		return err
	}
	// Recorded at once: down touches a namespace only if this lab made it.
	if err := state.Update(l.Dir, func(s *state.State) { s.MadeNetns = true }); err != nil {
		netns.Delete(ctx, l.Netns)
		return err
	}
	st.MadeNetns = true
	if l.Network.Operator.IsValid() {
		// The operator's namespace: labd puts the operator's end of a veth
		// into the lab's segment there.
		if err := netns.Create(ctx, l.OperatorNetns()); err != nil {
			return err
		}
		if err := state.Update(l.Dir, func(s *state.State) { s.MadeOperatorNetns = true }); err != nil {
			netns.Delete(ctx, l.OperatorNetns())
			return err
		}
		st.MadeOperatorNetns = true
	}
	return nil
}

// issueCertificates makes the lab CA, the certificates of the lab's own
// services (boot service API, virtual BMCs; the boot service's HTTPS one
// when a machine boots by HTTPS) and the scenario's (and its
// kubeconfig). The lab process only reads them: one CA for the lab's life.
func issueCertificates(sc *scenario.Scenario, l *lab.Lab) (*scenario.TLS, error) {
	ca, err := pki.LoadOrCreate(l.PKIDir(), l.Name)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.Name, err)
	}
	if err := ca.IssueOwn(l.Network.Gateway); err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.Name, err)
	}
	if l.HTTPSBoots() {
		if err := pki.IssueHTTPSBoot(l.PKIDir(), l.Network.Gateway); err != nil {
			return nil, fmt.Errorf("lab %s: %w", l.Name, err)
		}
	}
	if len(sc.Certificates) == 0 {
		return nil, nil
	}
	tls, err := sc.IssueCertificates(ca, l)
	if err != nil {
		return nil, err
	}
	if sc.Kubeconfig != nil {
		if err := sc.WriteKubeconfig(l.Kubeconfig(), tls, l); err != nil {
			return nil, err
		}
	}
	return tls, nil
}

// launch starts the lab process (self re-run as DaemonCommand) inside the
// lab's namespace, in a session of its own so that it survives labctl's
// exit and ^C, and records its pid. The channel it returns receives the
// lab process's end (its wait status) if it ends while this labctl runs:
// the parent knows that exactly, where /proc does not (while `ip netns
// exec` execs labctl, the process's command line reads empty).
func launch(st *state.State, self string) (<-chan error, error) {
	l := st.Lab
	logf, err := os.OpenFile(l.ProcessLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	argv := []string{self, DaemonCommand, "--state", l.Dir}
	if l.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", l.Netns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start lab process: %w", err)
	}
	// Reaped here if it ends while labctl runs; after labctl exits it is
	// init's child like any daemon.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// `ip netns exec` execs, so this pid is the lab process itself.
	pid := cmd.Process.Pid
	if err := state.SetPid(l.Dir, "labd", pid); err != nil {
		return nil, err
	}
	st.Pids = map[string]int{"labd": pid}
	return exited, nil
}

// kubernetesVersion is the Kubernetes version the scenario's images hold, or "".
func kubernetesVersion(sc *scenario.Scenario) string {
	for _, img := range sc.Images {
		if v := registry.Kubernetes(img.Name, img.Options); v != "" {
			return v
		}
	}
	return ""
}
