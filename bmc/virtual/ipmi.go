package virtual

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	gobmc "github.com/bougou/go-ipmi/pkg/bmc"
	"github.com/bougou/go-ipmi/pkg/hal"
	"github.com/bougou/go-ipmi/pkg/handlers"
	"github.com/bougou/go-ipmi/pkg/server"
	"github.com/bougou/go-ipmi/pkg/types"
	"github.com/labctl/labctl/internal/power"
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
		DeviceID: 0x20, DeviceRevision: 1,
		FirmwareMajor: bmcFirmwareMajor, FirmwareMinor: bmcFirmwareMinor,
		IPMIVersion:             0x02, // BCD, least significant digit in bits 7:4: 2.0
		AdditionalDeviceSupport: 0x80, // a chassis device
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

	// go-ipmi's handlers, less its storage ones: this BMC has no SDR, SEL
	// or FRU, and says so with Invalid Command (C1h) as a BMC without
	// them does, rather than "not supported in present state".
	reg := handlers.NewRegistry()
	reg.Use(sys.ipmiFaults) // before the handlers: middleware wraps what is registered after it
	handlers.RegisterAppHandlers(reg)
	handlers.RegisterSessionHandlers(reg)
	handlers.RegisterChassisHandlers(reg)
	handlers.RegisterPayloadHandlers(reg)
	handlers.RegisterSOLHandlers(reg)
	handlers.RegisterUserHandlers(reg)
	handlers.RegisterTransportHandlers(reg)
	// go-ipmi's own boot options handlers lack parameter #0 (set in
	// progress), which ipmitool and go-ipmi's client send around boot flags.
	reg.RegisterFunc(types.CommandSetSystemBootOptions, sys.ipmiSetBootOptions)
	reg.RegisterFunc(types.CommandGetSystemBootOptions, sys.ipmiGetBootOptions)
	// go-ipmi sends a BMC reset (mc reset) to the chassis as a host reset;
	// resetting this BMC must leave the machine alone.
	reg.RegisterFunc(types.CommandColdReset, sys.ipmiResetBMC)
	reg.RegisterFunc(types.CommandWarmReset, sys.ipmiResetBMC)
	reg.RegisterFunc(types.CommandGetSystemGUID, sys.ipmiSystemGUID)

	srv := server.NewServer(b, silentConn{PacketConn: conn, sys: sys}, server.WithHandlerRegistry(reg))
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	err = srv.Serve(ctx)
	srv.Close()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// ipmiBootParams are the volatile boot option parameters a BMC keeps
// besides the boot flags (which are the System's override).
type ipmiBootParams struct {
	setInProgress bool  // #0
	validBitClear uint8 // #3, what clears the boot flags' valid bit; kept, not acted on
	bootInfoAck   uint8 // #4, boot initiator acknowledge data
}

// ipmiResetBMC answers Cold and Warm Reset: the BMC's volatile state
// returns to its power-up values; the machine is not touched.
func (s *System) ipmiResetBMC(context.Context, *handlers.HandlerContext, []byte) ([]byte, types.CompletionCode, error) {
	s.mu.Lock()
	s.ipmi.setInProgress = false
	s.ipmi.bootInfoAck = 0
	s.mu.Unlock()
	return nil, types.CodeOK, nil
}

// ipmiSystemGUID answers Get System GUID with the machine's SMBIOS UUID,
// least significant byte first as IPMI sends GUIDs.
func (s *System) ipmiSystemGUID(context.Context, *handlers.HandlerContext, []byte) ([]byte, types.CompletionCode, error) {
	u, err := hex.DecodeString(strings.ReplaceAll(s.UUID, "-", ""))
	if err != nil || len(u) != 16 {
		return nil, types.CodeUnspecifiedError, fmt.Errorf("%s: UUID %q is not a UUID", s.Name, s.UUID)
	}
	slices.Reverse(u)
	return u, types.CodeOK, nil
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
			if s.ipmi.setInProgress {
				return nil, types.CodeParamConfigSetInProgressConflict, nil
			}
			s.ipmi.setInProgress = true
		case types.SetInProgress_SetComplete:
			s.ipmi.setInProgress = false
		default:
			return nil, types.CodeParameterOutOfRange, nil
		}
		return nil, types.CodeOK, nil
	case types.BootOptionParamSelector_BMCBootFlagValidBitClear:
		if len(data) < 1 {
			return nil, types.CodeRequestDataLengthInvalid, nil
		}
		s.mu.Lock()
		s.ipmi.validBitClear = data[0] & 0x1f
		s.mu.Unlock()
		return nil, types.CodeOK, nil
	case types.BootOptionParamSelector_BootInfoAcknowledge:
		if len(data) < 2 {
			return nil, types.CodeRequestDataLengthInvalid, nil
		}
		mask, ack := data[0], data[1]
		s.mu.Lock()
		s.ipmi.bootInfoAck = s.ipmi.bootInfoAck&^mask | ack&mask
		s.mu.Unlock()
		return nil, types.CodeOK, nil
	case types.BootOptionParamSelector_BootFlags:
		var f types.BootOptionParam_BootFlags
		if err := f.Unpack(data); err != nil {
			return nil, types.CodeRequestDataLengthInvalid, nil
		}
		if _, refused := s.spoil(FaultRefuseBoot); refused {
			return nil, types.CodeNodeBusy, nil
		}
		o := Override{Once: !f.Persist && s.Quirks.IPMIOnce != "ignored", UEFI: f.BIOSBootType == types.BIOSBootTypeEFI}
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

func (s *System) ipmiGetBootOptions(ctx context.Context, _ *handlers.HandlerContext, req []byte) ([]byte, types.CompletionCode, error) {
	if len(req) < 1 {
		return nil, types.CodeRequestDataTruncated, nil
	}
	sel := types.BootOptionParamSelector(req[0] & 0x7f)
	resp := []byte{0x01, byte(sel)} // parameter version, selector
	s.mu.Lock()
	p := s.ipmi
	s.mu.Unlock()
	switch sel {
	case types.BootOptionParamSelector_SetInProgress:
		v := types.SetInProgress_SetComplete
		if p.setInProgress {
			v = types.SetInProgress_SetInProgress
		}
		return append(resp, byte(v)), types.CodeOK, nil
	case types.BootOptionParamSelector_BMCBootFlagValidBitClear:
		return append(resp, p.validBitClear), types.CodeOK, nil
	case types.BootOptionParamSelector_BootInfoAcknowledge:
		return append(resp, 0x00, p.bootInfoAck), types.CodeOK, nil // the write mask reads as 0
	case types.BootOptionParamSelector_BootFlags:
		o := s.Override()
		f := types.BootOptionParam_BootFlags{
			BootFlagsValid: o.Device != "",
			Persist:        o.Device != "" && !o.Once,
			BIOSBootType:   types.BIOSBootType(o.UEFI),
		}
		if s.Quirks.IPMIBootFlags == "running" {
			st, err := s.PowerState(ctx)
			if err != nil {
				return nil, types.CodeUnspecifiedError, err
			}
			if st == power.On {
				s.mu.Lock()
				o = s.booted
				s.mu.Unlock()
			}
			f = types.BootOptionParam_BootFlags{BootFlagsValid: true} // as pyghmi encodes it
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

// ipmiReplyWithin bounds how long a Chassis Control request waits for the
// machine before it is answered. IPMI clients retransmit after about a
// second (ipmitool, FreeIPMI) and give up after 20 s or so, while a cold
// start of a VM under load can take longer; a retransmitted request would
// act a second time. A BMC answers at once and acts meanwhile.
const ipmiReplyWithin = 500 * time.Millisecond

// act performs a on the machine, waiting at most ipmiReplyWithin; an
// action still running then completes after the reply, and a failure is
// logged. ctx is the server's: it outlives the request.
func (c *ipmiChassis) act(ctx context.Context, a power.Action) error {
	done := make(chan error, 1)
	go func() { done <- c.sys.SetPower(ctx, a) }()
	select {
	case err := <-done:
		return err
	case <-time.After(ipmiReplyWithin):
		go func() {
			if err := <-done; err != nil {
				slog.Warn("ipmi: chassis control answered, then failed", "machine", c.sys.Name, "action", a, "err", err)
			}
		}()
		return nil
	}
}

func (c *ipmiChassis) PowerState(ctx context.Context) (bool, error) {
	st, err := c.sys.PowerState(ctx)
	return st == power.On, err
}

func (c *ipmiChassis) SetPower(ctx context.Context, on bool) error {
	if on {
		return c.act(ctx, power.ActionOn)
	}
	return c.act(ctx, power.ActionOff)
}

func (c *ipmiChassis) PowerCycle(ctx context.Context) error {
	if c.sys.Quirks.IPMICycle == "unsupported" {
		return types.CodeRequestDataFieldInvalid
	}
	return c.act(ctx, power.ActionCycle)
}

// ColdReset is what go-ipmi calls for Chassis Control "hard reset" (its
// BMC resets are answered by ipmiResetBMC instead).
func (c *ipmiChassis) ColdReset(ctx context.Context) error {
	return c.act(ctx, power.ActionReset)
}

// WarmReset is what go-ipmi calls for Chassis Control "soft shutdown".
func (c *ipmiChassis) WarmReset(ctx context.Context) error {
	return c.act(ctx, power.ActionSoftOff)
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
