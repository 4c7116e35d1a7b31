package virtual

import (
	"bytes"
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Quirks make a virtual BMC's Redfish service (and, for the ipmi_ ones,
// its IPMI face) behave like a real BMC that differs from the standard one, so that clients are proven against
// it. The zero value is the standard behaviour. Profiles name sets of
// them (profiles.yaml).
type Quirks struct {
	// Sessions false: no SessionService (sushy-tools); basic auth only.
	Sessions *bool `yaml:"sessions"`
	// Once: "" honoured; "unsupported": not offered, refused;
	// "ignored": accepted, applied and reported as Continuous.
	Once string `yaml:"once"`
	// BootMode: "" applied; "fixed": only the current mode is allowed;
	// "fails": a PATCH naming a mode sets the device, then answers 500.
	BootMode string `yaml:"boot_mode"`
	// BusyRequests: the first N requests (of any kind) are answered
	// BusyStatus; BusyResets: the first N resets too, doing nothing.
	BusyRequests int `yaml:"busy_requests"`
	BusyResets   int `yaml:"busy_resets"`
	BusyStatus   int `yaml:"busy_status"` // 500 or 503 (the default)
	// Delay holds every answer this long ("300ms").
	Delay Duration `yaml:"delay"`
	// SystemID replaces the UUID as the system's Id and URI segment.
	SystemID string `yaml:"system_id"`
	// IPMIBootFlags "running": Get System Boot Options (boot flags) reports,
	// while the machine is on, the device it was last powered on with (No
	// override if none), the one set only while it is off; flags always
	// valid, never persistent, legacy. virtualbmc does this: it writes the
	// device into libvirt's domain definition and reads it back from the
	// running one, through pyghmi, which encodes the answer so.
	IPMIBootFlags string `yaml:"ipmi_boot_flags"`
	// IPMIOnce "ignored": a one-time boot device set over IPMI is applied
	// persistently (virtualbmc: libvirt's boot order has no one-time entry).
	IPMIOnce string `yaml:"ipmi_once"`
	// IPMICycle "unsupported": Chassis Control power cycle is answered
	// Invalid Data Field (CCh) and does nothing, as pyghmi answers for
	// virtualbmc, which implements off, on, reset and soft-off only.
	IPMICycle string `yaml:"ipmi_cycle"`
}

// Duration is a time.Duration written as "300ms" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 300ms", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// sessions reports whether the service has a SessionService.
func (q Quirks) sessions() bool { return q.Sessions == nil || *q.Sessions }

func (q Quirks) busyStatus() int {
	if q.BusyStatus == 0 {
		return 503
	}
	return q.BusyStatus
}

// service is the part of q that belongs to a whole Redfish service rather
// than to one of its systems.
func (q Quirks) service() Quirks {
	return Quirks{Sessions: q.Sessions, BusyRequests: q.BusyRequests, BusyResets: q.BusyResets, BusyStatus: q.BusyStatus, Delay: q.Delay}
}

func (q Quirks) check() error {
	var bad []string
	if !slices.Contains([]string{"", "unsupported", "ignored"}, q.Once) {
		bad = append(bad, fmt.Sprintf("once: %q is not unsupported or ignored", q.Once))
	}
	if !slices.Contains([]string{"", "fixed", "fails"}, q.BootMode) {
		bad = append(bad, fmt.Sprintf("boot_mode: %q is not fixed or fails", q.BootMode))
	}
	if !slices.Contains([]string{"", "running"}, q.IPMIBootFlags) {
		bad = append(bad, fmt.Sprintf("ipmi_boot_flags: %q is not running", q.IPMIBootFlags))
	}
	if !slices.Contains([]string{"", "ignored"}, q.IPMIOnce) {
		bad = append(bad, fmt.Sprintf("ipmi_once: %q is not ignored", q.IPMIOnce))
	}
	if !slices.Contains([]string{"", "unsupported"}, q.IPMICycle) {
		bad = append(bad, fmt.Sprintf("ipmi_cycle: %q is not unsupported", q.IPMICycle))
	}
	if q.BusyStatus != 0 && q.BusyStatus != 500 && q.BusyStatus != 503 {
		bad = append(bad, fmt.Sprintf("busy_status: %d is not 500 or 503", q.BusyStatus))
	}
	if q.BusyRequests < 0 || q.BusyResets < 0 {
		bad = append(bad, "busy_requests, busy_resets: must not be negative")
	}
	if strings.ContainsAny(q.SystemID, "/?#% ") {
		bad = append(bad, fmt.Sprintf("system_id: %q cannot be a URI segment", q.SystemID))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

//go:embed profiles.yaml
var profilesYAML []byte

// profiles are the named quirk sets of profiles.yaml, read once.
var profiles = func() map[string]Quirks {
	dec := yaml.NewDecoder(bytes.NewReader(profilesYAML))
	dec.KnownFields(true)
	var ps map[string]Quirks
	if err := dec.Decode(&ps); err != nil {
		panic("bmc/virtual/profiles.yaml: " + err.Error())
	}
	for name, q := range ps {
		if err := q.check(); err != nil {
			panic("bmc/virtual/profiles.yaml: " + name + ": " + err.Error())
		}
	}
	return ps
}()

// ProfileNames lists the quirk profiles, sorted.
func ProfileNames() []string { return slices.Sorted(maps.Keys(profiles)) }

// Profile returns the quirks of the named profile; "" is standard.
func Profile(name string) (Quirks, error) {
	if name == "" {
		return Quirks{}, nil
	}
	q, ok := profiles[name]
	if !ok {
		return Quirks{}, fmt.Errorf("%q is not a virtual BMC profile (one of %s)", name, strings.Join(ProfileNames(), ", "))
	}
	return q, nil
}
