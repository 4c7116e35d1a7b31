package redfish

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/internal/power"
)

// system is what the client reads of a ComputerSystem.
type system struct {
	PowerState string
	Boot       struct {
		Target         string   `json:"BootSourceOverrideTarget"`
		Targets        []string `json:"BootSourceOverrideTarget@Redfish.AllowableValues"`
		Enabled        string   `json:"BootSourceOverrideEnabled"`
		EnabledAllowed []string `json:"BootSourceOverrideEnabled@Redfish.AllowableValues"`
		Mode           string   `json:"BootSourceOverrideMode"`
		Modes          []string `json:"BootSourceOverrideMode@Redfish.AllowableValues"`
		HTTPBootURI    string   `json:"HttpBootUri"`
	}
	Actions struct {
		Reset struct {
			Target  string   `json:"target"`
			Allowed []string `json:"ResetType@Redfish.AllowableValues"`
		} `json:"#ComputerSystem.Reset"`
	}
	ETag string `json:"@odata.etag"`
}

func (c *Conn) system(ctx context.Context) (*system, error) {
	var s system
	h, err := c.get(ctx, c.systemID, &s)
	if err != nil {
		return nil, classify(ctx, "get "+c.systemID, err)
	}
	if e := h.Get("ETag"); e != "" {
		s.ETag = e
	}
	return &s, nil
}

// PowerState reads the system's PowerState.
func (c *Conn) PowerState(ctx context.Context) (power.State, error) {
	s, err := c.system(ctx)
	if err != nil {
		return "", err
	}
	switch s.PowerState {
	case "On", "PoweringOff":
		return power.On, nil
	case "Off", "PoweringOn":
		return power.Off, nil
	}
	return "", fmt.Errorf("%s: unknown PowerState %q", c.systemID, s.PowerState)
}

// resetTypes are the ResetTypes that perform an action, in preference order.
var resetTypes = map[power.Action][]string{
	power.ActionOn:      {"On", "ForceOn"},
	power.ActionOff:     {"ForceOff"},
	power.ActionSoftOff: {"GracefulShutdown"},
	power.ActionCycle:   {"PowerCycle", "ForceRestart"},
	power.ActionReset:   {"ForceRestart"},
}

// SetPower posts ComputerSystem.Reset with the matching ResetType. A reset
// is not idempotent, so a failed one is sent again only when the machine's
// power state proves it did not happen: an on that left it off, an off
// that left it on. A restart leaves no such proof and is not repeated.
func (c *Conn) SetPower(ctx context.Context, a power.Action) error {
	s, err := c.system(ctx)
	if err != nil {
		return err
	}
	want := resetTypes[a]
	rt, ok := pick(want, s.Actions.Reset.Allowed)
	if !ok {
		return fmt.Errorf("power %s: ResetType %v not among %v: %w", a, want, s.Actions.Reset.Allowed, bmc.ErrUnsupported)
	}
	target := s.Actions.Reset.Target
	if target == "" {
		target = strings.TrimSuffix(c.systemID, "/") + "/Actions/ComputerSystem.Reset"
	}
	provable := a == power.ActionOn || a == power.ActionOff
	for attempt := 1; ; attempt++ {
		_, err := c.do(ctx, http.MethodPost, target, map[string]string{"ResetType": rt}, nil, false)
		var se *statusError
		if err == nil || !errors.As(err, &se) || !busy(se.Status) {
			return classify(ctx, "reset "+rt, err)
		}
		if !provable {
			return classify(ctx, "reset "+rt+" (not repeated: a restart that may have begun cannot be told from one that did not)", err)
		}
		st, rerr := c.PowerState(ctx)
		switch {
		case rerr != nil:
			return classify(ctx, "reset "+rt, fmt.Errorf("%w; then reading the power state: %w", err, rerr))
		case st == a.Expect():
			return nil // it happened after all
		case attempt == maxAttempts || ctx.Err() != nil:
			return classify(ctx, "reset "+rt, fmt.Errorf("%w (power still %s after %d attempts)", err, st, attempt))
		}
		if err := bmc.Sleep(ctx, backoff(attempt)); err != nil {
			return classify(ctx, "reset "+rt, fmt.Errorf("%w (power still %s)", se, st))
		}
	}
}

// pick returns the first of want that allowed lists (or want[0] when the
// service lists nothing).
func pick(want, allowed []string) (string, bool) {
	if len(want) == 0 {
		return "", false
	}
	if len(allowed) == 0 {
		return want[0], true
	}
	for _, w := range want {
		if slices.Contains(allowed, w) {
			return w, true
		}
	}
	return "", false
}

// SetBootDevice sets the boot source override; see ApplyBoot.
func (c *Conn) SetBootDevice(ctx context.Context, d power.BootDevice, o power.BootOptions) error {
	_, err := c.ApplyBoot(ctx, d, o)
	return err
}

// ApplyBoot patches Boot.BootSourceOverride* (with the system's ETag) and
// reads the system back to check the override took. It returns the options
// in force: a BMC without one-time boot (Once not among the allowed values,
// or Continuous reported after a Once request, as sushy-tools does) gets a
// persistent override, with a warning. The mode is sent only when o asks
// for one the system is not in already, and only if the service allows it.
func (c *Conn) ApplyBoot(ctx context.Context, d power.BootDevice, o power.BootOptions) (power.BootOptions, error) {
	s, err := c.system(ctx)
	if err != nil {
		return o, err
	}
	boot := map[string]string{}
	switch d {
	case power.BootNetwork:
		boot["BootSourceOverrideTarget"] = "Pxe"
	case power.BootDisk:
		boot["BootSourceOverrideTarget"] = "Hdd"
	case power.BootHTTP:
		boot["BootSourceOverrideTarget"] = "UefiHttp"
		// Sent empty too: a URI left from an earlier request would win
		// over the one DHCP offers.
		boot["HttpBootUri"] = o.URI
	default:
		return o, fmt.Errorf("boot device %q: %w", d, bmc.ErrUnsupported)
	}
	if o.URI != "" && d != power.BootHTTP {
		return o, fmt.Errorf("boot device %s with HttpBootUri %s: a URI goes with UEFI HTTP boot only: %w", d, o.URI, bmc.ErrUnsupported)
	}
	if t := s.Boot.Targets; len(t) > 0 && !slices.Contains(t, boot["BootSourceOverrideTarget"]) {
		return o, fmt.Errorf("boot device %s: BootSourceOverrideTarget %s is not among the allowed %s: %w",
			d, boot["BootSourceOverrideTarget"], strings.Join(t, ", "), bmc.ErrUnsupported)
	}
	enabled := "Once"
	if o.Persistent {
		enabled = "Continuous"
	}
	if allowed := s.Boot.EnabledAllowed; len(allowed) > 0 && !slices.Contains(allowed, enabled) {
		if enabled != "Once" || !slices.Contains(allowed, "Continuous") {
			return o, fmt.Errorf("boot device %s: BootSourceOverrideEnabled %s is not among the allowed %s: %w",
				d, enabled, strings.Join(allowed, ", "), bmc.ErrUnsupported)
		}
		c.warn(fmt.Sprintf("BMC offers no one-time boot (BootSourceOverrideEnabled allows %s): boot device %s set persistently",
			strings.Join(allowed, ", "), d))
		enabled, o.Persistent = "Continuous", true
	}
	boot["BootSourceOverrideEnabled"] = enabled
	var mode string
	switch o.Mode {
	case power.BootModeUEFI:
		mode = "UEFI"
	case power.BootModeLegacy:
		mode = "Legacy"
	}
	if mode != "" && mode != s.Boot.Mode {
		if m := s.Boot.Modes; len(m) > 0 && !slices.Contains(m, mode) {
			return o, fmt.Errorf("boot mode %s: BootSourceOverrideMode %s is not among the allowed %s (the machine is in %s): %w",
				o.Mode, mode, strings.Join(m, ", "), s.Boot.Mode, bmc.ErrUnsupported)
		}
		boot["BootSourceOverrideMode"] = mode
	}
	got, err := c.patchBoot(ctx, s.ETag, boot)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && se.Status == http.StatusBadRequest {
			return o, fmt.Errorf("boot device %s: %w: %w", d, bmc.ErrUnsupported, err)
		}
		return o, classify(ctx, "set boot override", err)
	}
	gb := got.Boot
	switch {
	case gb.Target != boot["BootSourceOverrideTarget"]:
		return o, fmt.Errorf("boot device %s: BMC reports target %s: %w", d, gb.Target, bmc.ErrNoEffect)
	case enabled == "Once" && gb.Enabled == "Continuous":
		c.warn(fmt.Sprintf("BMC reports BootSourceOverrideEnabled Continuous after a Once request (it has no one-time boot): boot device %s is set persistently", d))
		o.Persistent = true
	case gb.Enabled != enabled:
		return o, fmt.Errorf("boot device %s: BMC reports %s/%s: %w", d, gb.Target, gb.Enabled, bmc.ErrNoEffect)
	case d == power.BootHTTP && gb.HTTPBootURI != o.URI:
		return o, fmt.Errorf("boot device %s: BMC reports HttpBootUri %q, want %q: %w", d, gb.HTTPBootURI, o.URI, bmc.ErrNoEffect)
	case mode != "" && gb.Mode != mode:
		return o, fmt.Errorf("boot mode %s: BMC reports BootSourceOverrideMode %s: %w", o.Mode, gb.Mode, bmc.ErrNoEffect)
	}
	return o, nil
}

// patchBoot sends boot with If-Match etag and reads the system back.
// Setting the same override twice is the same as once, so a busy answer is
// followed by another try, with the ETag read again: a failed PATCH may
// have changed the system (sushy-tools sets the device, then fails on the mode).
func (c *Conn) patchBoot(ctx context.Context, etag string, boot map[string]string) (*system, error) {
	for attempt := 1; ; attempt++ {
		var header map[string]string
		if etag != "" {
			header = map[string]string{"If-Match": etag}
		}
		_, err := c.do(ctx, http.MethodPatch, c.systemID, map[string]any{"Boot": boot}, header, false)
		var se *statusError
		if err != nil && (!errors.As(err, &se) || !busy(se.Status) || attempt == maxAttempts) {
			if se != nil {
				se.Attempts = attempt
			}
			return nil, err
		}
		if err != nil {
			if bmc.Sleep(ctx, backoff(attempt)) != nil {
				se.Attempts = attempt
				return nil, err
			}
		}
		s, rerr := c.system(ctx)
		if rerr != nil {
			return nil, rerr
		}
		if err == nil {
			return s, nil
		}
		etag = s.ETag
	}
}
