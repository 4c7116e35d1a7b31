package bmc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/labctl/labctl/internal/power"
)

// DefaultTimeout bounds one endpoint's attempt when the inventory gives none.
const DefaultTimeout = 15 * time.Second

// DefaultSettle is how long a power action's effect may take to show
// (a real BMC's status lags a little; an ACPI shutdown takes longer, bounded
// by the endpoint's timeout).
const DefaultSettle = 10 * time.Second

// Server is one machine as its BMCs reach it: its name and the endpoints,
// in the order they are tried.
type Server struct {
	Name      string
	Endpoints []Endpoint
}

// Client drives one machine through the first of its endpoints that works.
type Client struct {
	Server  Server
	Dialers map[Protocol]Dialer
	Log     *slog.Logger // nil: slog.Default()
	// PollInterval is how often a power state is read back while waiting for
	// an action's effect; zero means 500ms.
	PollInterval time.Duration
	// Settle bounds that wait (zero: DefaultSettle; soft-off: the endpoint's timeout).
	Settle time.Duration
	// Retry is how often an operation is tried again, on every endpoint,
	// when the BMC answered busy or not in time (zero: DefaultRetry).
	Retry Retry
}

func (c *Client) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// PowerState reads the machine's power state.
func (c *Client) PowerState(ctx context.Context) (power.State, error) {
	var st power.State
	err := c.try(ctx, "power status", true, func(ctx context.Context, conn Conn) error {
		ps, ok := conn.(power.StateReader)
		if !ok {
			return fmt.Errorf("power status: %w", ErrUnsupported)
		}
		var err error
		st, err = ps.PowerState(ctx)
		return err
	})
	return st, err
}

// SetPower performs a and reads the power state back until it shows the
// effect: a BMC that reports success without it is an error (ErrNoEffect).
func (c *Client) SetPower(ctx context.Context, a power.Action) error {
	// On and off may be sent again after a time-out; a cycle or a reset
	// may have begun, so it is sent again only when the BMC said busy.
	idempotent := a == power.ActionOn || a == power.ActionOff || a == power.ActionSoftOff
	return c.try(ctx, "power "+string(a), idempotent, func(ctx context.Context, conn Conn) error {
		ps, okS := conn.(power.Setter)
		pr, okR := conn.(power.StateReader)
		if !okS || !okR {
			return fmt.Errorf("power %s: %w", a, ErrUnsupported)
		}
		err := ps.SetPower(ctx, a)
		if a == power.ActionCycle && errors.Is(err, ErrUnsupported) {
			return c.offOn(ctx, ps, pr, err)
		}
		if err != nil {
			return err
		}
		return c.waitPower(ctx, pr, a)
	})
}

// offOn stands in for a power cycle the BMC refused (virtualbmc has none):
// off, read back, on, read back.
func (c *Client) offOn(ctx context.Context, ps power.Setter, pr power.StateReader, refused error) error {
	c.log().Warn(c.Server.Name+": BMC refused the power cycle, powering off and on instead", "machine", c.Server.Name, "refusal", refused.Error())
	for _, a := range []power.Action{power.ActionOff, power.ActionOn} {
		if err := ps.SetPower(ctx, a); err != nil {
			return fmt.Errorf("power cycle as off and on (the BMC refused the cycle): %w", err)
		}
		if err := c.waitPower(ctx, pr, a); err != nil {
			return fmt.Errorf("power cycle as off and on (the BMC refused the cycle): %w", err)
		}
	}
	return nil
}

func (c *Client) waitPower(ctx context.Context, pr power.StateReader, a power.Action) error {
	want := a.Expect()
	d := c.Settle
	if d == 0 {
		d = DefaultSettle
	}
	if a == power.ActionSoftOff {
		d = 24 * time.Hour // until the endpoint's timeout
	}
	interval := c.PollInterval
	if interval == 0 {
		interval = 500 * time.Millisecond
	}
	deadline := time.Now().Add(d)
	for {
		st, err := pr.PowerState(ctx)
		if err != nil {
			return fmt.Errorf("read back power state after %s: %w", a, err)
		}
		if st == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("power %s: state is %s after %s, want %s: %w", a, st, d, want, ErrNoEffect)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("power %s: state is still %s, want %s: %w (%w)", a, st, want, ErrNoEffect, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// SetBootDevice sets the device the machine boots from.
func (c *Client) SetBootDevice(ctx context.Context, d power.BootDevice, o power.BootOptions) error {
	_, err := c.SetBoot(ctx, d, o)
	return err
}

// bootApplier is a connection that may apply a boot device differently
// from what was asked (persistently, on a BMC without one-time boot) and
// says so.
type bootApplier interface {
	ApplyBoot(ctx context.Context, d power.BootDevice, o power.BootOptions) (power.BootOptions, error)
}

// SetBoot sets the device the machine boots from and returns the options
// in force: Persistent although o asked for the next boot only when the
// BMC has no one-time boot (a warning names the machine).
func (c *Client) SetBoot(ctx context.Context, d power.BootDevice, o power.BootOptions) (power.BootOptions, error) {
	applied := o
	err := c.try(ctx, "boot device "+string(d), true, func(ctx context.Context, conn Conn) error {
		if ba, ok := conn.(bootApplier); ok {
			var err error
			applied, err = ba.ApplyBoot(ctx, d, o)
			return err
		}
		bs, ok := conn.(power.BootSetter)
		if !ok {
			return fmt.Errorf("boot device: %w", ErrUnsupported)
		}
		applied = o
		return bs.SetBootDevice(ctx, d, o)
	})
	return applied, err
}

// bootReader is a connection that reads back the boot device the BMC
// holds for the next boot.
type bootReader interface {
	BootOverride(ctx context.Context) (power.BootDevice, error)
}

// BootOverride reads the boot device the BMC reports for the next boot:
// "" for none; a device labctl does not set is named as the BMC names it.
func (c *Client) BootOverride(ctx context.Context) (power.BootDevice, error) {
	var d power.BootDevice
	err := c.try(ctx, "read boot device", true, func(ctx context.Context, conn Conn) error {
		br, ok := conn.(bootReader)
		if !ok {
			return fmt.Errorf("read boot device: %w", ErrUnsupported)
		}
		var err error
		d, err = br.BootOverride(ctx)
		return err
	})
	return d, err
}

// warner is a connection that reports what it did differently from what
// was asked, or risks it took.
type warner interface{ Warnings() []string }

// try runs op against each endpoint in order, each under its own timeout,
// until one succeeds. A failure that is the machine's answer rather than the
// endpoint's (unsupported, no effect) still moves on: another protocol may do better.
// When every endpoint failed only for now (busy; or, for an idempotent op,
// no answer in time), the round is repeated after a growing pause (Retry).
func (c *Client) try(ctx context.Context, op string, idempotent bool, fn func(context.Context, Conn) error) error {
	if len(c.Server.Endpoints) == 0 {
		return fmt.Errorf("%s: %s: no BMC endpoints", c.Server.Name, op)
	}
	e := &AttemptsError{Machine: c.Server.Name, Op: op}
	retry := c.Retry.orDefault()
	for round := 1; ; round++ {
		transient := true
		for _, ep := range c.Server.Endpoints {
			if ctx.Err() != nil {
				break
			}
			err := c.attempt(ctx, ep, fn)
			if err == nil {
				c.log().Debug("bmc", "machine", c.Server.Name, "op", op, "endpoint", ep.String(), "round", round)
				return nil
			}
			c.log().Debug("bmc endpoint failed", "machine", c.Server.Name, "op", op, "endpoint", ep.String(), "round", round, "err", err)
			e.Attempts = append(e.Attempts, Attempt{Endpoint: ep, Err: err})
			transient = transient && retriable(err, idempotent)
		}
		if len(e.Attempts) == 0 {
			return fmt.Errorf("%s: %s: %w", c.Server.Name, op, ctx.Err())
		}
		if !transient || round >= retry.Attempts || ctx.Err() != nil {
			e.Rounds = round
			return e
		}
		pause := retry.backoff(round)
		c.log().Warn(fmt.Sprintf("%s: %s: BMC busy or silent, trying again in %s (round %d of %d)", c.Server.Name, op, pause, round+1, retry.Attempts),
			"machine", c.Server.Name, "err", e.Attempts[len(e.Attempts)-1].Err)
		if Sleep(ctx, pause) != nil {
			e.Rounds = round
			return e
		}
	}
}

func (c *Client) attempt(ctx context.Context, ep Endpoint, fn func(context.Context, Conn) error) error {
	dial, ok := c.Dialers[ep.Protocol]
	if !ok {
		return fmt.Errorf("protocol %q: %w", ep.Protocol, ErrUnsupported)
	}
	pw, err := ep.Password()
	if err != nil {
		return err
	}
	timeout := ep.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = func() error {
		conn, err := dial(ctx, ep, pw)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		err = fn(ctx, conn)
		if w, ok := conn.(warner); ok {
			for _, msg := range w.Warnings() {
				c.log().Warn(c.Server.Name+": "+msg, "machine", c.Server.Name, "endpoint", ep.String())
			}
		}
		return err
	}()
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w after %s: %w", ErrTimeout, timeout, err)
	}
	return Redact(err, pw)
}
