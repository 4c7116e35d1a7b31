package scenario

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/labctl/labctl/lab"
)

// Step is one fault a converged lab must survive: the fault injected (and
// proven to have taken effect), the checks that must hold while it lasts,
// its healing, and the checks that must pass again within a deadline.
type Step struct {
	Name string `yaml:"name"`
	// Before are checks that must pass before the fault is injected,
	// within Deadline: what the step needs in place (a workload on the
	// machine about to fail, a writer whose acknowledgements are counted).
	Before []Check `yaml:"before"`
	Fault  Fault   `yaml:"fault"`
	// During are checks that must pass while the fault lasts, within
	// Deadline (default 2m).
	During   []Check  `yaml:"during"`
	Deadline Duration `yaml:"deadline"`
	// HealAfter makes the fault last at least this long after it took
	// effect; 0: healed as soon as the During checks passed.
	HealAfter Duration `yaml:"heal_after"`
	Recover   Recovery `yaml:"recover"`
}

// Recovery is what must hold again after a fault is healed: the time its
// checks take to pass is the step's recovery time.
type Recovery struct {
	Deadline Duration `yaml:"deadline"` // default 3m
	Checks   []Check  `yaml:"checks"`
}

// Fault kinds.
const (
	// FaultPartition cuts the lab's segment between machines: Machines
	// isolated from the others, or Groups that cannot reach each other.
	// The gateway (checks, SSH, the boot service) still reaches every one.
	FaultPartition = "partition"
	// FaultPause freezes the whole guest (QEMU's stop); healed by cont.
	FaultPause = "pause"
	// FaultLinkDown takes the carrier off the machine's NIC.
	FaultLinkDown = "link-down"
	// FaultPowerOff powers the machine off through its virtual BMC;
	// healed by powering it on the same way.
	FaultPowerOff = "power-off"
	// FaultReset resets the machine through its virtual BMC, as a hard
	// reset button: it starts again from its firmware at once. Nothing to
	// heal: the recover checks wait for it to be back.
	FaultReset = "reset"
	// FaultServiceStop stops a systemd unit over SSH; healed by starting it.
	FaultServiceStop = "service-stop"
	// FaultKill kills a systemd unit's main process with SIGKILL over SSH,
	// as a crash would (no clean stop); healed by starting the unit.
	FaultKill = "kill"
	// FaultLoss drops Percent of the frames from and to each machine on
	// the lab's bridge, at random (nftables' numgen, no netem needed).
	FaultLoss = "loss"
	// FaultDuplicate sends Percent of the frames to each machine twice.
	FaultDuplicate = "duplicate"
	// FaultDelay holds each frame a machine sends for Delay, give or take
	// up to Jitter, as netem's delay (a relay in the lab process, fed by
	// QEMU's filter-redirector on its NIC: lab/netem).
	FaultDelay = "delay"
	// FaultReorder sends Percent of the frames a machine sends at once and
	// holds the rest for Delay, so those sent at once overtake them, as
	// netem's reorder (the same relay).
	FaultReorder = "reorder"
	// BMC faults: the machine's virtual BMC (IPMI and Redfish) answers
	// busy, stays silent, drops its sessions or refuses a boot override,
	// for the next Requests requests or until healed.
	FaultBMCError        = "bmc-error"
	FaultBMCTimeout      = "bmc-timeout"
	FaultBMCDropSessions = "bmc-drop-sessions"
	FaultBMCRefuseBoot   = "bmc-refuse-boot"
	// Boot-path faults act on the whole lab, not on machines: its boot
	// service refuses the machines' connections (FaultBootServiceDown), or
	// its dnsmasq's DHCP and TFTP go unanswered (FaultDHCPDown). A machine
	// (re)booted meanwhile retries until healed.
	// FaultBootServiceError makes the boot service answer the machines
	// Status (default 503) instead.
	FaultBootServiceDown  = "boot-service-down"
	FaultBootServiceError = "boot-service-error"
	FaultDHCPDown         = "dhcp-down"
	// FaultDiskFill fills the filesystem at Path on each machine (to
	// Percent of its size; 0: full) with a file of its own; healed by
	// removing it.
	FaultDiskFill = "disk-fill"
	// FaultDiskFail makes each machine's disk fail its I/O: every read,
	// write and flush the guest sends it answered with an I/O error, as a
	// dying disk's; healed by putting the disk back as it was (QEMU only).
	FaultDiskFail = "disk-fail"
)

// FaultKinds are the kinds a fault may have.
var FaultKinds = []string{FaultPartition, FaultPause, FaultLinkDown, FaultPowerOff, FaultReset, FaultServiceStop, FaultKill, FaultLoss, FaultDuplicate, FaultDelay, FaultReorder,
	FaultBMCError, FaultBMCTimeout, FaultBMCDropSessions, FaultBMCRefuseBoot,
	FaultBootServiceDown, FaultBootServiceError, FaultDHCPDown, FaultDiskFill, FaultDiskFail}

// BootPathFault reports whether kind makes the lab's boot path (its boot
// service, DHCP or TFTP) unavailable: a machine's failed boot is then
// expected, and retried.
func BootPathFault(kind string) bool {
	return kind == FaultBootServiceDown || kind == FaultBootServiceError || kind == FaultDHCPDown
}

// DefaultBootServiceStatus is what a boot-service-error answers by default.
const DefaultBootServiceStatus = 503

// BMCFault reports whether kind is a fault of the machine's virtual BMC,
// and the BMC's own name for it.
func BMCFault(kind string) (string, bool) {
	return strings.CutPrefix(kind, "bmc-")
}

// Fault is one fault, as data.
type Fault struct {
	Kind     string     `yaml:"kind" json:"kind"`
	Machines []string   `yaml:"machines" json:"machines,omitempty"`
	Groups   [][]string `yaml:"groups" json:"groups,omitempty"` // partition only
	Unit     string     `yaml:"unit" json:"unit,omitempty"`     // service-stop and kill only
	// Where picks the machines at injection: those of Machines on which
	// this command exits 0 over SSH (e.g. the etcd leader's test), for a
	// fault on a role that moves. At least one must match.
	Where string `yaml:"where" json:"where,omitempty"`
	// Protocol is the BMC protocol of power-off (ipmi or redfish); empty:
	// the BMC's endpoints in order.
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`
	// Requests is how many requests a BMC fault spoils (0: until healed).
	Requests int `yaml:"requests" json:"requests,omitempty"`
	// Percent is the share of a loss's frames dropped or of a duplicate's
	// sent twice (1 to 100), or how full a disk-fill makes its filesystem
	// (1 to 100; 0: full).
	Percent int `yaml:"percent" json:"percent,omitempty"`
	// Path is the directory whose filesystem a disk-fill fills.
	Path string `yaml:"path" json:"path,omitempty"`
	// Status is what a boot-service-error answers (500 to 599; 0: 503).
	Status int `yaml:"status" json:"status,omitempty"`
	// Delay is how long a delay or a reorder holds a frame (MinDelay to
	// MaxDelay); Jitter how much a delay's may differ from it (0 to Delay).
	Delay  Duration `yaml:"delay" json:"delay,omitempty"`
	Jitter Duration `yaml:"jitter" json:"jitter,omitempty"`
}

// The bounds of a delay: under MinDelay a probe could not tell it from
// none; over MaxDelay a connection's two legs would outlast a probe's 3 s.
const (
	MinDelay = 10 * time.Millisecond
	MaxDelay = time.Second
)

// String is the fault in a few words, for timelines and `labctl fault list`.
func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(f.Kind)
	if len(f.Groups) > 0 {
		gs := make([]string, len(f.Groups))
		for i, g := range f.Groups {
			gs[i] = strings.Join(g, ",")
		}
		b.WriteString(" " + strings.Join(gs, " | "))
	} else if len(f.Machines) > 0 {
		b.WriteString(" " + strings.Join(f.Machines, ","))
	}
	if f.Unit != "" {
		b.WriteString(" unit " + f.Unit)
	}
	if f.Path != "" {
		b.WriteString(" " + f.Path)
	}
	if f.Status != 0 {
		fmt.Fprintf(&b, " %d", f.Status)
	}
	if f.Protocol != "" {
		b.WriteString(" via " + f.Protocol)
	}
	if f.Requests > 0 {
		fmt.Fprintf(&b, " for %d requests", f.Requests)
	}
	if f.Percent > 0 {
		fmt.Fprintf(&b, " %d%%", f.Percent)
	}
	if f.Delay > 0 {
		fmt.Fprintf(&b, " %s", time.Duration(f.Delay))
	}
	if f.Jitter > 0 {
		fmt.Fprintf(&b, " ±%s", time.Duration(f.Jitter))
	}
	return b.String()
}

var (
	unitName = regexp.MustCompile(`^[A-Za-z0-9@._:-]+$`)
	// fillPath is an absolute path a shell takes as one word.
	fillPath = regexp.MustCompile(`^/[A-Za-z0-9@._/+-]*$`)
)

// Problems lists what is wrong with f for a lab of the named machines,
// each naming the field (under prefix, e.g. "steps[0].fault").
func (f Fault) Problems(prefix string, names map[string]bool) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, field, fmt.Sprintf(format, args...)))
	}
	if !slices.Contains(FaultKinds, f.Kind) {
		bad("kind", "%q: want one of %s", f.Kind, strings.Join(FaultKinds, ", "))
		return errs
	}
	known := func(field string, ms []string) {
		seen := map[string]bool{}
		for _, m := range ms {
			switch {
			case !names[m]:
				bad(field, "no machine named %q", m)
			case seen[m]:
				bad(field, "%s twice", m)
			}
			seen[m] = true
		}
	}
	if f.Kind == FaultPartition {
		switch {
		case (len(f.Machines) > 0) == (len(f.Groups) > 0):
			bad("machines", "a partition has exactly one of machines (isolated from the rest) or groups")
		case len(f.Machines) > 0:
			known("machines", f.Machines)
			if len(f.Machines) >= len(names) {
				bad("machines", "isolates every machine: name the ones cut off from the rest")
			}
		default:
			if len(f.Groups) < 2 {
				bad("groups", "a partition needs at least two groups")
			}
			var all []string
			for i, g := range f.Groups {
				if len(g) == 0 {
					bad(fmt.Sprintf("groups[%d]", i), "empty")
				}
				all = append(all, g...)
			}
			known("groups", all)
		}
	} else {
		if len(f.Groups) > 0 {
			bad("groups", "only a partition has groups")
		}
		if BootPathFault(f.Kind) {
			if len(f.Machines) > 0 {
				bad("machines", "a %s acts on the whole lab's boot path: no machines", f.Kind)
			}
		} else if len(f.Machines) == 0 {
			bad("machines", "missing: the machines the %s acts on", f.Kind)
		}
		known("machines", f.Machines)
	}
	if f.Kind == FaultServiceStop || f.Kind == FaultKill {
		if !unitName.MatchString(f.Unit) {
			bad("unit", "%q is not a systemd unit name", f.Unit)
		}
	} else if f.Unit != "" {
		bad("unit", "only a service-stop or a kill has a unit")
	}
	if f.Where != "" && len(f.Machines) == 0 {
		bad("where", "picks among machines: list the candidates under machines")
	}
	switch {
	case f.Kind == FaultLoss && (f.Percent < 1 || f.Percent > 100):
		bad("percent", "%d: a loss drops 1 to 100 percent of the frames", f.Percent)
	case f.Kind == FaultDuplicate && (f.Percent < 1 || f.Percent > 100):
		bad("percent", "%d: a duplicate sends 1 to 100 percent of the frames twice", f.Percent)
	case f.Kind == FaultDiskFill && (f.Percent < 0 || f.Percent > 100):
		bad("percent", "%d: a disk-fill fills 1 to 100 percent of the filesystem (0: full)", f.Percent)
	case f.Kind == FaultReorder && (f.Percent < 1 || f.Percent > 99):
		bad("percent", "%d: a reorder sends 1 to 99 percent of the frames at once", f.Percent)
	case f.Kind != FaultLoss && f.Kind != FaultDuplicate && f.Kind != FaultDiskFill && f.Kind != FaultReorder && f.Percent != 0:
		bad("percent", "only a loss, a duplicate, a reorder or a disk-fill has a percent")
	}
	switch {
	case f.Kind == FaultDiskFill && !fillPath.MatchString(f.Path):
		bad("path", "%q: want an absolute path (letters, digits, '@._/+-') on the filesystem to fill", f.Path)
	case f.Kind != FaultDiskFill && f.Path != "":
		bad("path", "only a disk-fill has a path")
	}
	switch {
	case f.Kind == FaultBootServiceError && f.Status != 0 && (f.Status < 500 || f.Status > 599):
		bad("status", "%d: a boot-service-error answers a server error, 500 to 599 (default %d)", f.Status, DefaultBootServiceStatus)
	case f.Kind != FaultBootServiceError && f.Status != 0:
		bad("status", "only a boot-service-error has a status")
	}
	held := f.Kind == FaultDelay || f.Kind == FaultReorder
	switch d := time.Duration(f.Delay); {
	case held && (d < MinDelay || d > MaxDelay):
		bad("delay", "%s: a %s holds frames for %s to %s", d, f.Kind, MinDelay, MaxDelay)
	case !held && d != 0:
		bad("delay", "only a delay or a reorder has a delay")
	}
	switch j := time.Duration(f.Jitter); {
	case f.Kind == FaultDelay && (j < 0 || j > time.Duration(f.Delay)):
		bad("jitter", "%s: want 0 to the delay (%s)", j, time.Duration(f.Delay))
	case f.Kind != FaultDelay && j != 0:
		bad("jitter", "only a delay has a jitter")
	}
	if _, bmcFault := BMCFault(f.Kind); !bmcFault && f.Requests != 0 {
		bad("requests", "only a BMC fault (bmc-*) spoils a number of requests")
	} else if f.Requests < 0 {
		bad("requests", "%d is negative (0: until healed)", f.Requests)
	}
	switch {
	case f.Protocol != "" && f.Kind != FaultPowerOff && f.Kind != FaultReset:
		bad("protocol", "only a power-off or a reset goes through a BMC protocol")
	case f.Protocol != "" && f.Protocol != lab.ProtocolIPMI && f.Protocol != lab.ProtocolRedfish:
		bad("protocol", "%q: want %s or %s", f.Protocol, lab.ProtocolIPMI, lab.ProtocolRedfish)
	}
	return errs
}

// CheckFault validates a fault given by hand (`labctl fault inject`) for
// lab l; the error names each field at fault.
func CheckFault(f Fault, l *lab.Lab) error {
	names := map[string]bool{}
	for _, m := range l.Machines {
		names[m.Name] = true
	}
	return errors.Join(f.Problems("fault", names)...)
}

// Default deadlines of a step's two phases.
const (
	DefaultDuringDeadline  = 2 * time.Minute
	DefaultRecoverDeadline = 3 * time.Minute
)

func (s *Scenario) validateSteps(p *problems) {
	names := s.machineNames()
	if len(s.Steps) > 0 && len(s.Checks) == 0 {
		p.bad("steps", "steps run after the convergence checks: a scenario with steps needs checks")
	}
	seen := map[string]bool{}
	for i := range s.Steps {
		st := &s.Steps[i]
		f := fmt.Sprintf("steps[%d]", i)
		switch {
		case !lab.IsDNSLabel(st.Name):
			p.bad(f+".name", "%q is not a DNS label (lower-case letters, digits, '-')", st.Name)
		case seen[st.Name]:
			p.bad(f+".name", "duplicate step %s", st.Name)
		}
		seen[st.Name] = true
		p.errs = append(p.errs, prefixed(p.source, st.Fault.Problems(f+".fault", names))...)
		validateCheckList(p, f+".before", st.Before, names)
		validateCheckList(p, f+".during", st.During, names)
		if len(st.Recover.Checks) == 0 {
			p.bad(f+".recover.checks", "missing: what must hold again once the fault is healed (its time is the recovery time)")
		}
		validateCheckList(p, f+".recover.checks", st.Recover.Checks, names)
		for _, d := range []struct {
			field string
			v     Duration
		}{{"deadline", st.Deadline}, {"heal_after", st.HealAfter}, {"recover.deadline", st.Recover.Deadline}} {
			if d.v < 0 {
				p.bad(f+"."+d.field, "%s is negative", time.Duration(d.v))
			}
		}
		if st.Deadline == 0 {
			st.Deadline = Duration(DefaultDuringDeadline)
		}
		if st.Recover.Deadline == 0 {
			st.Recover.Deadline = Duration(DefaultRecoverDeadline)
		}
	}
}

func prefixed(source string, errs []error) []error {
	for i, err := range errs {
		errs[i] = fmt.Errorf("%s: %w", source, err)
	}
	return errs
}
