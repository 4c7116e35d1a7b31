// Package ipmi is a BMC client over IPMI v2.0 LAN (RMCP+, "lanplus"),
// built on github.com/bougou/go-ipmi.
package ipmi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	goipmi "github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/internal/power"
)

// Conn is an open RMCP+ session.
type Conn struct {
	c        *goipmi.Client
	ep       bmc.Endpoint
	warnings []string
}

var (
	_ power.StateReader = (*Conn)(nil)
	_ power.Setter      = (*Conn)(nil)
	_ power.BootSetter  = (*Conn)(nil)
)

// Dial opens a session with ep; it is a bmc.Dialer.
func Dial(ctx context.Context, ep bmc.Endpoint, password string) (bmc.Conn, error) {
	return dialConn(ctx, ep, password, nil)
}

// DialVia returns a bmc.Dialer whose UDP socket is made by dial, for
// example inside a lab's network namespace (netns.Dialer).
func DialVia(dial func(ctx context.Context, network, addr string) (net.Conn, error)) bmc.Dialer {
	return func(ctx context.Context, ep bmc.Endpoint, password string) (bmc.Conn, error) {
		return dialConn(ctx, ep, password, dial)
	}
}

// udpDialer is go-ipmi's proxy.Dialer over a DialContext-shaped function;
// ctx bounds the socket's creation only.
type udpDialer struct {
	ctx  context.Context
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (d udpDialer) Dial(network, addr string) (net.Conn, error) { return d.dial(d.ctx, network, addr) }

func dialConn(ctx context.Context, ep bmc.Endpoint, password string, via func(ctx context.Context, network, addr string) (net.Conn, error)) (bmc.Conn, error) {
	host, portStr, err := net.SplitHostPort(ep.Address)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", ep.Address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("address %q: port: %w", ep.Address, err)
	}
	c, err := goipmi.NewClient(host, port, ep.Username, password)
	if err != nil {
		return nil, fmt.Errorf("ipmi client: %w", err)
	}
	c.WithRetry(2).WithMaxPrivilegeLevel(types.PrivilegeLevelAdministrator)
	if via != nil {
		c.WithUDPProxy(udpDialer{ctx: context.WithoutCancel(ctx), dial: via})
	}
	if err := c.Connect(ctx); err != nil {
		return nil, classify(ctx, "open session", err)
	}
	return &Conn{c: c, ep: ep}, nil
}

// classify wraps err with the bmc error kind it shows.
func classify(ctx context.Context, op string, err error) error {
	msg := strings.ToLower(err.Error())
	var kind error
	switch {
	case ctx.Err() != nil:
		kind = bmc.ErrTimeout
	case errors.Is(err, goipmi.ErrRAKPAuthentication), strings.Contains(msg, "unauthorized name"), strings.Contains(msg, "invalid integrity check"),
		strings.Contains(msg, "rakp"), strings.Contains(msg, "password"), strings.Contains(msg, "insufficient"):
		kind = bmc.ErrAuth
	case busy(err):
		kind = bmc.ErrBusy
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no route"), strings.Contains(msg, "network is unreachable"):
		kind = bmc.ErrUnreachable
	case strings.Contains(msg, "timeout"), strings.Contains(msg, "no datagram"), strings.Contains(msg, "deadline"):
		// Silence: the BMC is there or not; either way it did not answer in time.
		kind = bmc.ErrTimeout
	}
	if kind == nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, kind, err)
}

// busy reports whether the BMC answered "not now", Node Busy (C0h): it did
// not act. (C3h, a time-out while processing, may have acted.)
func busy(err error) bool {
	re, ok := types.IsResponseError(err)
	return ok && re.CompletionCode() == types.CodeNodeBusy
}

// Close ends the session.
func (c *Conn) Close(ctx context.Context) error { return c.c.Close(ctx) }

// PowerState reads Get Chassis Status.
func (c *Conn) PowerState(ctx context.Context) (power.State, error) {
	st, err := c.c.GetChassisStatus(ctx)
	if err != nil {
		return "", classify(ctx, "get chassis status", err)
	}
	if st.PowerIsOn {
		return power.On, nil
	}
	return power.Off, nil
}

// SetPower sends Chassis Control.
func (c *Conn) SetPower(ctx context.Context, a power.Action) error {
	var ctl chassis.ChassisControl
	switch a {
	case power.ActionOn:
		ctl = chassis.ChassisControlPowerUp
	case power.ActionOff:
		ctl = chassis.ChassisControlPowerDown
	case power.ActionSoftOff:
		ctl = chassis.ChassisControlSoftShutdown
	case power.ActionCycle:
		ctl = chassis.ChassisControlPowerCycle
	case power.ActionReset:
		ctl = chassis.ChassisControlHardReset
	default:
		return fmt.Errorf("power %s: %w", a, bmc.ErrUnsupported)
	}
	if _, err := c.c.ChassisControl(ctx, ctl); err != nil {
		// A BMC without the action answers Invalid Command or Invalid Data
		// Field (pyghmi's for virtualbmc's missing power cycle).
		if re, ok := types.IsResponseError(err); ok &&
			(re.CompletionCode() == types.CodeInvalidCommand || re.CompletionCode() == types.CodeRequestDataFieldInvalid) {
			return fmt.Errorf("chassis control %s: %w: %w", a, bmc.ErrUnsupported, err)
		}
		return classify(ctx, "chassis control "+string(a), err)
	}
	return nil
}

// SetBootDevice sets boot flags (parameter #5), bracketed by "set in progress".
func (c *Conn) SetBootDevice(ctx context.Context, d power.BootDevice, o power.BootOptions) error {
	flags := &types.BootOptionParam_BootFlags{
		BootFlagsValid: true,
		Persist:        o.Persistent,
		BIOSBootType:   types.BIOSBootTypeLegacy,
	}
	switch o.Mode {
	case power.BootModeUEFI:
		flags.BIOSBootType = types.BIOSBootTypeEFI
	case power.BootModeUnchanged:
		// The flags carry a mode either way: keep the one the BMC holds.
		cur := &types.BootOptionParam_BootFlags{}
		if err := c.c.GetSystemBootOptionsParamFor(ctx, cur); err == nil {
			flags.BIOSBootType = cur.BIOSBootType
		}
	}
	switch d {
	case power.BootNetwork:
		flags.BootDeviceSelector = types.BootDeviceSelectorForcePXE
	case power.BootDisk:
		flags.BootDeviceSelector = types.BootDeviceSelectorForceHardDrive
	default:
		return fmt.Errorf("boot device %q: %w", d, bmc.ErrUnsupported)
	}
	// Bracket the write with parameter #0 ("set in progress") where the BMC
	// has it; OpenIPMI's ipmi_sim refuses it, and ipmitool does without.
	bracket := c.c.SetBootParamSetInProgress(ctx, types.SetInProgress_SetInProgress) == nil
	err := c.c.SetSystemBootOptionsParamFor(ctx, flags)
	if bracket {
		if cerr := c.c.SetBootParamSetInProgress(ctx, types.SetInProgress_SetComplete); err == nil && cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		if _, ok := types.IsResponseError(err); ok && !busy(err) {
			return fmt.Errorf("set boot flags %s: %w: %w", d, bmc.ErrUnsupported, err)
		}
		return classify(ctx, "set boot flags "+string(d), err)
	}
	return c.verifyBoot(ctx, d, flags.BootDeviceSelector)
}

// verifyBoot reads the boot flags back after the BMC accepted them. A BMC
// that reports another forced device while the machine is off ignored the
// request (ErrNoEffect). Two answers do not tell either way, and are
// reported as a warning naming what the BMC said: "No override" (the spec
// lets a BMC clear the flags' valid bit, and virtualbmc reports the boot
// device of the domain's running definition, which per-device boot order
// leaves without one), and another device while the machine runs
// (virtualbmc again: the device it wrote takes effect at the next power-on).
func (c *Conn) verifyBoot(ctx context.Context, d power.BootDevice, want types.BootDeviceSelector) error {
	got := &types.BootOptionParam_BootFlags{}
	if err := c.c.GetSystemBootOptionsParamFor(ctx, got); err != nil {
		return classify(ctx, "read back boot flags", err)
	}
	// Only the device is compared: some BMCs (OpenIPMI's ipmi_sim) do not
	// report the valid and persistent bits back, pyghmi not the persistent one.
	if got.BootDeviceSelector == want {
		return nil
	}
	if got.BootDeviceSelector == types.BootDeviceSelectorNoOverride {
		c.warn(fmt.Sprintf("BMC accepted boot device %s but reads back %s (Get System Boot Options, boot flags %s): not verified; "+
			"the BMC may apply it at the next power-on without reporting it (virtualbmc does)", d, got.BootDeviceSelector, validity(got)))
		return nil
	}
	st, err := c.PowerState(ctx)
	if err != nil {
		return fmt.Errorf("boot device %s: BMC reports %s: %w", d, got.BootDeviceSelector, err)
	}
	if st == power.On {
		c.warn(fmt.Sprintf("BMC accepted boot device %s but reads back %s while the machine runs: not verified; "+
			"the BMC may report the running boot's device and apply %s at the next power-on (virtualbmc does)", d, got.BootDeviceSelector, d))
		return nil
	}
	return fmt.Errorf("boot device %s: BMC reports %s with the machine off: %w", d, got.BootDeviceSelector, bmc.ErrNoEffect)
}

// BootOverride reads the boot flags (parameter #5): the device forced for
// the next boot, "" for none.
func (c *Conn) BootOverride(ctx context.Context) (power.BootDevice, error) {
	f := &types.BootOptionParam_BootFlags{}
	if err := c.c.GetSystemBootOptionsParamFor(ctx, f); err != nil {
		return "", classify(ctx, "get boot flags", err)
	}
	switch f.BootDeviceSelector {
	case types.BootDeviceSelectorNoOverride:
		return "", nil
	case types.BootDeviceSelectorForcePXE:
		return power.BootNetwork, nil
	case types.BootDeviceSelectorForceHardDrive:
		return power.BootDisk, nil
	}
	return power.BootDevice(f.BootDeviceSelector.String()), nil
}

func validity(f *types.BootOptionParam_BootFlags) string {
	if f.BootFlagsValid {
		return "valid"
	}
	return "not valid"
}

func (c *Conn) warn(msg string) { c.warnings = append(c.warnings, msg) }

// Warnings are what the BMC answered that the client could not verify;
// bmc.Client logs them with the machine's name.
func (c *Conn) Warnings() []string { return c.warnings }
