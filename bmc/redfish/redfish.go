// Package redfish is a BMC client over Redfish, built on
// github.com/stmcginnis/gofish: session auth by default, TLS verified by default.
package redfish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/common"
	rf "github.com/stmcginnis/gofish/redfish"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/power"
)

// Conn is a logged-in Redfish client bound to one ComputerSystem.
type Conn struct {
	api      *gofish.APIClient
	systemID string // @odata.id of the system
}

var (
	_ power.StateReader = (*Conn)(nil)
	_ power.Setter      = (*Conn)(nil)
	_ power.BootSetter  = (*Conn)(nil)
)

// Dial logs in to ep and finds the system whose UUID is ep.SystemUUID (or
// the only system, when the service has one); it is a bmc.Dialer.
func Dial(ctx context.Context, ep bmc.Endpoint, password string) (bmc.Conn, error) {
	return dialConn(ctx, ep, password, nil)
}

// DialVia returns a bmc.Dialer whose connections are made by dial, for
// example inside a lab's network namespace (netns.Dialer).
func DialVia(dial func(ctx context.Context, network, addr string) (net.Conn, error)) bmc.Dialer {
	return func(ctx context.Context, ep bmc.Endpoint, password string) (bmc.Conn, error) {
		return dialConn(ctx, ep, password, dial)
	}
}

func dialConn(ctx context.Context, ep bmc.Endpoint, password string, via func(ctx context.Context, network, addr string) (net.Conn, error)) (bmc.Conn, error) {
	tlsCfg := &tls.Config{InsecureSkipVerify: ep.Insecure, MinVersion: tls.VersionTLS12}
	if ep.CAFile != "" {
		pem, err := os.ReadFile(ep.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates", ep.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil, DialContext: via}}
	api, err := gofish.ConnectContext(ctx, gofish.ClientConfig{
		Endpoint:   strings.TrimSuffix(ep.Address, "/"),
		Username:   ep.Username,
		Password:   password,
		BasicAuth:  ep.Auth == bmc.AuthBasic,
		HTTPClient: hc,
	})
	if err != nil {
		return nil, classify(ctx, "log in", err)
	}
	c := &Conn{api: api}
	systems, err := api.Service.Systems()
	if err != nil {
		c.Close(ctx)
		return nil, classify(ctx, "list systems", err)
	}
	for _, s := range systems {
		if ep.SystemUUID != "" && strings.EqualFold(s.UUID, ep.SystemUUID) {
			c.systemID = s.ODataID
		}
	}
	if c.systemID == "" && len(systems) == 1 && ep.SystemUUID == "" {
		c.systemID = systems[0].ODataID
	}
	if c.systemID == "" {
		c.Close(ctx)
		return nil, fmt.Errorf("no system with UUID %q among %d systems", ep.SystemUUID, len(systems))
	}
	return c, nil
}

// classify wraps err with the bmc error kind it shows.
func classify(ctx context.Context, op string, err error) error {
	var kind error
	var rfErr *common.Error
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	switch {
	case ctx.Err() != nil:
		kind = bmc.ErrTimeout
	case errors.As(err, &rfErr) && (rfErr.HTTPReturnedStatusCode == http.StatusUnauthorized || rfErr.HTTPReturnedStatusCode == http.StatusForbidden),
		// gofish reports a collection's failures as text only.
		strings.Contains(err.Error(), `"error":"401:`), strings.Contains(err.Error(), `"error":"403:`):
		kind = bmc.ErrAuth
	case errors.As(err, &certErr):
		return fmt.Errorf("%s: TLS certificate not trusted (give ca_file, or insecure: true): %w", op, err)
	case errors.As(err, &netErr):
		kind = bmc.ErrUnreachable
	}
	if kind == nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, kind, err)
}

// Close logs out.
func (c *Conn) Close(context.Context) error {
	c.api.Logout()
	return nil
}

func (c *Conn) system(ctx context.Context) (*rf.ComputerSystem, error) {
	s, err := rf.GetComputerSystem(c.api, c.systemID)
	if err != nil {
		return nil, classify(ctx, "get "+c.systemID, err)
	}
	return s, nil
}

// PowerState reads the system's PowerState.
func (c *Conn) PowerState(ctx context.Context) (power.State, error) {
	s, err := c.system(ctx)
	if err != nil {
		return "", err
	}
	switch s.PowerState {
	case rf.OnPowerState, rf.PoweringOffPowerState:
		return power.On, nil
	case rf.OffPowerState, rf.PoweringOnPowerState:
		return power.Off, nil
	}
	return "", fmt.Errorf("%s: unknown PowerState %q", c.systemID, s.PowerState)
}

// SetPower posts ComputerSystem.Reset with the matching ResetType.
func (c *Conn) SetPower(ctx context.Context, a power.Action) error {
	s, err := c.system(ctx)
	if err != nil {
		return err
	}
	var want []rf.ResetType
	switch a {
	case power.ActionOn:
		want = []rf.ResetType{rf.OnResetType, rf.ForceOnResetType}
	case power.ActionOff:
		want = []rf.ResetType{rf.ForceOffResetType}
	case power.ActionSoftOff:
		want = []rf.ResetType{rf.GracefulShutdownResetType}
	case power.ActionCycle:
		want = []rf.ResetType{rf.PowerCycleResetType, rf.ForceRestartResetType}
	case power.ActionReset:
		want = []rf.ResetType{rf.ForceRestartResetType}
	}
	rt, ok := pick(want, s.SupportedResetTypes)
	if !ok {
		return fmt.Errorf("power %s: ResetType %v not among %v: %w", a, want, s.SupportedResetTypes, bmc.ErrUnsupported)
	}
	if err := s.Reset(rt); err != nil {
		return classify(ctx, "reset "+string(rt), err)
	}
	return nil
}

// pick returns the first of want that allowed lists (or want[0] when the
// service lists nothing).
func pick(want, allowed []rf.ResetType) (rf.ResetType, bool) {
	if len(want) == 0 {
		return "", false
	}
	if len(allowed) == 0 {
		return want[0], true
	}
	for _, w := range want {
		for _, a := range allowed {
			if w == a {
				return w, true
			}
		}
	}
	return "", false
}

// SetBootDevice patches Boot.BootSourceOverride* (with the system's ETag)
// and reads the system back to check the override took.
func (c *Conn) SetBootDevice(ctx context.Context, d power.BootDevice, o power.BootOptions) error {
	s, err := c.system(ctx)
	if err != nil {
		return err
	}
	b := rf.Boot{BootSourceOverrideEnabled: rf.OnceBootSourceOverrideEnabled, BootSourceOverrideMode: rf.LegacyBootSourceOverrideMode}
	if o.Persistent {
		b.BootSourceOverrideEnabled = rf.ContinuousBootSourceOverrideEnabled
	}
	if o.UEFI {
		b.BootSourceOverrideMode = rf.UEFIBootSourceOverrideMode
	}
	switch d {
	case power.BootNetwork:
		b.BootSourceOverrideTarget = rf.PxeBootSourceOverrideTarget
	case power.BootDisk:
		b.BootSourceOverrideTarget = rf.HddBootSourceOverrideTarget
	default:
		return fmt.Errorf("boot device %q: %w", d, bmc.ErrUnsupported)
	}
	if err := s.SetBoot(b); err != nil {
		var rfErr *common.Error
		if errors.As(err, &rfErr) && rfErr.HTTPReturnedStatusCode == http.StatusBadRequest {
			return fmt.Errorf("boot device %s: %w: %w", d, bmc.ErrUnsupported, err)
		}
		return classify(ctx, "set boot override", err)
	}
	got, err := c.system(ctx)
	if err != nil {
		return err
	}
	if got.Boot.BootSourceOverrideTarget != b.BootSourceOverrideTarget || got.Boot.BootSourceOverrideEnabled != b.BootSourceOverrideEnabled {
		return fmt.Errorf("boot device %s: BMC reports %s/%s: %w", d,
			got.Boot.BootSourceOverrideTarget, got.Boot.BootSourceOverrideEnabled, bmc.ErrNoEffect)
	}
	return nil
}
