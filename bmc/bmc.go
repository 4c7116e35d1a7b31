// Package bmc drives servers' baseboard management controllers: one small
// interface per capability, and a client that tries a machine's BMC endpoints in order.
package bmc

import (
	"context"
	"fmt"
	"time"

	"github.com/labctl/labctl/internal/power"
)

// ParseBootDevice accepts the words of BMC users: "pxe" (or "network")
// and "disk".
func ParseBootDevice(s string) (power.BootDevice, error) {
	switch s {
	case "pxe", string(power.BootNetwork):
		return power.BootNetwork, nil
	case string(power.BootDisk):
		return power.BootDisk, nil
	case "uefi-http", string(power.BootHTTP):
		return power.BootHTTP, nil
	}
	return "", fmt.Errorf("boot device %q: want pxe, disk or uefi-http: %w", s, ErrUnsupported)
}

// Conn is an open connection to one BMC endpoint. It implements some of
// power's capability interfaces (StateReader, Setter, BootSetter); Client
// checks which.
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
	AuthAuto    Auth = "auto"    // session when the service root links a SessionService, else basic
	AuthSession Auth = "session" // POST to SessionService, then X-Auth-Token
	AuthBasic   Auth = "basic"
)

// Endpoint is one way to reach a machine's BMC. The password is not here:
// Password reads it from PasswordEnv or PasswordFile when it is needed.
type Endpoint struct {
	Protocol     Protocol
	Address      string // ipmi: host:port; redfish: https://host[:port] (or http://)
	Username     string
	PasswordEnv  string
	PasswordFile string
	CAFile       string // redfish: PEM bundle to verify the BMC's certificate
	Insecure     bool   // redfish: skip TLS verification
	Auth         Auth   // redfish: auto (default, also ""), session or basic
	Timeout      time.Duration
	SystemUUID   string // redfish: the system to drive (the machine's UUID)
}

// String names the endpoint in errors and logs; it never holds a secret.
func (e Endpoint) String() string { return string(e.Protocol) + " " + e.Address }
