package virtual

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"

	gobmc "github.com/bougou/go-ipmi/pkg/bmc"
	"github.com/bougou/go-ipmi/pkg/hal"
	"github.com/bougou/go-ipmi/pkg/handlers"
	"github.com/bougou/go-ipmi/pkg/server"
	"github.com/bougou/go-ipmi/pkg/types"
	"github.com/labctl/labctl/power"
)

// ServeIPMI answers IPMI v2.0 (RMCP+, lanplus) on conn for sys until ctx is
// done, then closes conn. Only cipher suites 3 and 17 are offered (suite 0,
// no authentication, is refused) and IPMI v1.5 is off.
func ServeIPMI(ctx context.Context, conn net.PacketConn, sys *System, cred Credentials) error {
	if cred.Username == "" || cred.Password == "" {
		return errors.New("ipmi: username and password are required")
	}
	guid := sha256.Sum256([]byte(sys.UUID))
	b := gobmc.New(gobmc.DeviceInfo{
		DeviceID: 0x20, DeviceRevision: 1, FirmwareMajor: 1, IPMIVersion: 0x20,
		AdditionalDeviceSupport: 0x01, // chassis device
	}, [16]byte(guid[:16]), &ipmiHAL{chassis: &ipmiChassis{sys: sys}},
		gobmc.WithV15Disabled(),
		gobmc.WithCipherSuites([]types.CipherSuiteID{types.CipherSuiteID3, types.CipherSuiteID17}))
	u, err := b.Users.Add(2, cred.Username)
	if err != nil {
		return fmt.Errorf("ipmi: add user: %w", err)
	}
	u.SetPassword([]byte(cred.Password))
	u.Enabled = true
	u.ChannelAccess[1] = gobmc.UserChannelAccess{MaxPrivilege: gobmc.PrivilegeLevelAdministrator, Enabled: true}

	reg := handlers.NewRegistry()
	handlers.RegisterAllHandlers(reg)
	// go-ipmi's own boot options handlers lack parameter #0 (set in
	// progress), which ipmitool and go-ipmi's client send around boot flags.
	reg.RegisterFunc(types.CommandSetSystemBootOptions, sys.ipmiSetBootOptions)
	reg.RegisterFunc(types.CommandGetSystemBootOptions, sys.ipmiGetBootOptions)

	srv := server.NewServer(b, conn, server.WithHandlerRegistry(reg))
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	err = srv.Serve(ctx)
	srv.Close()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

func (s *System) ipmiSetBootOptions(ctx context.Context, _ *handlers.HandlerContext, req []byte) ([]byte, types.CompletionCode, error) {
	if len(req) < 1 {
		return nil, types.CodeRequestDataTruncated, nil
	}
	sel := types.BootOptionParamSelector(req[0] & 0x7f)
	data := req[1:]
	switch sel {
	case types.BootOptionParamSelector_SetInProgress:
		var p types.BootOptionParam_SetInProgress
		if err := p.Unpack(data); err != nil {
			return nil, types.CodeRequestDataLengthInvalid, nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		switch p.Value {
		case types.SetInProgress_SetInProgress:
			if s.ipmiSetInProgress {
				return nil, types.CodeParamConfigSetInProgressConflict, nil
			}
			s.ipmiSetInProgress = true
		case types.SetInProgress_SetComplete:
			s.ipmiSetInProgress = false
		default:
			return nil, types.CodeParameterOutOfRange, nil
		}
		return nil, types.CodeOK, nil
	case types.BootOptionParamSelector_BMCBootFlagValidBitClear, types.BootOptionParamSelector_BootInfoAcknowledge:
		// Accepted: this BMC never clears the valid bit on its own, and the
		// acknowledge flags only concern the firmware.
		return nil, types.CodeOK, nil
	case types.BootOptionParamSelector_BootFlags:
		var f types.BootOptionParam_BootFlags
		if err := f.Unpack(data); err != nil {
			return nil, types.CodeRequestDataLengthInvalid, nil
		}
		o := Override{Once: !f.Persist, UEFI: f.BIOSBootType == types.BIOSBootTypeEFI}
		if f.BootFlagsValid {
			switch f.BootDeviceSelector {
			case types.BootDeviceSelectorNoOverride:
			case types.BootDeviceSelectorForcePXE:
				o.Device = power.BootNetwork
			case types.BootDeviceSelectorForceHardDrive:
				o.Device = power.BootDisk
			default:
				return nil, types.CodeParameterOutOfRange, nil
			}
		}
		if err := s.SetOverride(ctx, o); err != nil {
			return nil, types.CodeUnspecifiedError, err
		}
		return nil, types.CodeOK, nil
	}
	return nil, types.CodeParameterNotSupported, nil
}

func (s *System) ipmiGetBootOptions(_ context.Context, _ *handlers.HandlerContext, req []byte) ([]byte, types.CompletionCode, error) {
	if len(req) < 1 {
		return nil, types.CodeRequestDataTruncated, nil
	}
	sel := types.BootOptionParamSelector(req[0] & 0x7f)
	resp := []byte{0x01, byte(sel)} // parameter version, selector
	switch sel {
	case types.BootOptionParamSelector_SetInProgress:
		s.mu.Lock()
		v := types.SetInProgress_SetComplete
		if s.ipmiSetInProgress {
			v = types.SetInProgress_SetInProgress
		}
		s.mu.Unlock()
		return append(resp, byte(v)), types.CodeOK, nil
	case types.BootOptionParamSelector_BootFlags:
		o := s.Override()
		f := types.BootOptionParam_BootFlags{
			BootFlagsValid: o.Device != "",
			Persist:        o.Device != "" && !o.Once,
			BIOSBootType:   types.BIOSBootType(o.UEFI),
		}
		switch o.Device {
		case power.BootNetwork:
			f.BootDeviceSelector = types.BootDeviceSelectorForcePXE
		case power.BootDisk:
			f.BootDeviceSelector = types.BootDeviceSelectorForceHardDrive
		}
		return append(resp, f.Pack()...), types.CodeOK, nil
	}
	return nil, types.CodeParameterNotSupported, nil
}

// ipmiHAL exposes only a chassis: the machine's power and boot flags.
type ipmiHAL struct{ chassis *ipmiChassis }

func (h *ipmiHAL) Chassis() hal.ChassisHAL { return h.chassis }
func (h *ipmiHAL) Sensors() hal.SensorHAL  { return nil }
func (h *ipmiHAL) Storage() hal.StorageHAL { return nil }
func (h *ipmiHAL) Network() hal.NetworkHAL { return nil }
func (h *ipmiHAL) GPIO() hal.GPIOHAL       { return nil }
func (h *ipmiHAL) I2C() hal.I2CHAL         { return nil }
func (h *ipmiHAL) Console() hal.ConsoleHAL { return nil }
func (h *ipmiHAL) Close() error            { return nil }

type ipmiChassis struct{ sys *System }

func (c *ipmiChassis) PowerState(ctx context.Context) (bool, error) {
	st, err := c.sys.PowerState(ctx)
	return st == power.On, err
}

func (c *ipmiChassis) SetPower(ctx context.Context, on bool) error {
	if on {
		return c.sys.SetPower(ctx, power.ActionOn)
	}
	return c.sys.SetPower(ctx, power.ActionOff)
}

func (c *ipmiChassis) PowerCycle(ctx context.Context) error {
	return c.sys.SetPower(ctx, power.ActionCycle)
}

func (c *ipmiChassis) ColdReset(ctx context.Context) error {
	return c.sys.SetPower(ctx, power.ActionCycle)
}

// WarmReset is what go-ipmi calls for Chassis Control "soft shutdown".
func (c *ipmiChassis) WarmReset(ctx context.Context) error {
	return c.sys.SetPower(ctx, power.ActionSoftOff)
}

func (c *ipmiChassis) Identify(context.Context, uint8) error { return nil }
func (c *ipmiChassis) IntrusionState(context.Context) (bool, error) {
	return false, hal.ErrNotSupported
}
func (c *ipmiChassis) SetBootFlags(context.Context, *types.BootOptionParam_BootFlags) error {
	return hal.ErrNotSupported // handled by System.ipmiSetBootOptions
}
func (c *ipmiChassis) GetBootFlags(context.Context) (*types.BootOptionParam_BootFlags, error) {
	return nil, hal.ErrNotSupported
}
func (c *ipmiChassis) SetBootInfoAcknowledge(context.Context, *types.BootOptionParam_BootInfoAcknowledge) error {
	return nil
}
func (c *ipmiChassis) GetBootInfoAcknowledge(context.Context) (*types.BootOptionParam_BootInfoAcknowledge, error) {
	return &types.BootOptionParam_BootInfoAcknowledge{}, nil
}
