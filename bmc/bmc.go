// Package bmc drives servers' baseboard management controllers: one small
// interface per capability, and a client that tries a machine's BMC endpoints in order.
package bmc

import (
	"context"
	"fmt"
	"time"
)

// PowerState is a machine's power as its BMC reports it.
type PowerState string

const (
	PowerOn  PowerState = "on"
	PowerOff PowerState = "off"
)

// PowerAction is what a power request asks for.
type PowerAction string

const (
	ActionOn      PowerAction = "on"
	ActionOff     PowerAction = "off"      // hard off
	ActionSoftOff PowerAction = "soft-off" // ACPI shutdown
	ActionCycle   PowerAction = "cycle"    // off, then on
	ActionReset   PowerAction = "reset"    // hard reset
)

// ParsePowerAction accepts the names used on the command line.
func ParsePowerAction(s string) (PowerAction, error) {
	switch a := PowerAction(s); a {
	case ActionOn, ActionOff, ActionSoftOff, ActionCycle, ActionReset:
		return a, nil
	}
	return "", fmt.Errorf("power action %q: want on, off, soft-off, cycle or reset", s)
}

// expect is the state a successful action leaves the machine in.
func (a PowerAction) expect() PowerState {
	if a == ActionOff || a == ActionSoftOff {
		return PowerOff
	}
	return PowerOn
}

// BootDevice is a device a machine can be told to boot from.
type BootDevice string

const (
	BootPXE  BootDevice = "pxe"
	BootDisk BootDevice = "disk"
)

// ParseBootDevice accepts "pxe" or "disk".
func ParseBootDevice(s string) (BootDevice, error) {
	switch d := BootDevice(s); d {
	case BootPXE, BootDisk:
		return d, nil
	}
	return "", fmt.Errorf("boot device %q: want pxe or disk: %w", s, ErrUnsupported)
}

// BootOptions qualify a boot device request.
type BootOptions struct {
	Persistent bool // false: the next boot only
	UEFI       bool // false: legacy (BIOS) boot
}

// PowerStater reads a machine's power state.
type PowerStater interface {
	PowerState(ctx context.Context) (PowerState, error)
}

// PowerSetter asks a BMC for a power action. It does not verify the effect;
// Client does that by reading the state back.
type PowerSetter interface {
	SetPower(ctx context.Context, a PowerAction) error
}

// BootDeviceSetter sets the device a machine boots from.
type BootDeviceSetter interface {
	SetBootDevice(ctx context.Context, d BootDevice, o BootOptions) error
}

// Conn is an open connection to one BMC endpoint. It implements some of the
// capability interfaces above; Client checks which.
type Conn interface {
	Close(ctx context.Context) error
}

// Dialer opens a connection to an endpoint with its password.
type Dialer func(ctx context.Context, ep Endpoint, password string) (Conn, error)

// Protocol names a BMC protocol.
type Protocol string

const (
	IPMI    Protocol = "ipmi"
	Redfish Protocol = "redfish"
)

// Auth is how a Redfish client authenticates.
type Auth string

const (
	AuthSession Auth = "session" // POST to SessionService, then X-Auth-Token
	AuthBasic   Auth = "basic"
)

// Endpoint is one way to reach a machine's BMC. The password is not here:
// Password reads it from PasswordEnv or PasswordFile when it is needed.
type Endpoint struct {
	Protocol     Protocol
	Address      string // ipmi: host:port; redfish: https://host[:port]
	Username     string
	PasswordEnv  string
	PasswordFile string
	CAFile       string // redfish: PEM bundle to verify the BMC's certificate
	Insecure     bool   // redfish: skip TLS verification
	Auth         Auth   // redfish: session (default) or basic
	Timeout      time.Duration
	SystemUUID   string // redfish: the system to drive (the machine's UUID)
}

// String names the endpoint in errors and logs; it never holds a secret.
func (e Endpoint) String() string { return string(e.Protocol) + " " + e.Address }
