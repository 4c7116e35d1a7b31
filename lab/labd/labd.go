// Package labd is the lab process: labctl re-run inside the lab's network
// namespace. It only composes: from the lab's state file and the files `labctl
// up` wrote (data directory, assets, TFTP root) it brings up the provider's
// network, the boot service, dnsmasq, the virtual BMCs and the machines, and
// holds them up until told to stop, recording what it starts in the state.
package labd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netem"
	"github.com/labctl/labctl/lab/providers"
	"github.com/labctl/labctl/lab/state"
	"github.com/labctl/labctl/lab/vm"
)

// Run brings the lab in dir up and keeps it up until ctx ends, then takes
// it down. It must run inside the lab's network namespace.
func Run(ctx context.Context, dir string, log *slog.Logger) (err error) {
	st, err := state.Load(dir)
	if err != nil {
		return fmt.Errorf("lab state: %w", err)
	}
	l := st.Lab
	defer func() {
		if err != nil {
			state.Update(dir, func(s *state.State) { s.Phase, s.Error = state.Failed, err.Error() })
		}
	}()
	prov, err := providers.New(st.Provider, providers.Config{Log: log, Accel: vm.Accel(st.Accel),
		OnProcess: func(role string, pid int) {
			if err := state.SetPid(dir, role, pid); err != nil {
				log.Warn("record pid", "role", role, "pid", pid, "err", err)
			}
		}})
	if err != nil {
		return err
	}
	// Whatever happens from here on, leave nothing behind.
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if derr := prov.Destroy(dctx, l); derr != nil {
			log.Error("destroy lab", "err", derr)
		}
	}()
	if err := prov.CreateNetwork(ctx, l); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	if err := startServices(ctx, &wg, l, prov, log, stop); err != nil {
		return err
	}
	if st.Restore != "" {
		if err := restoreMachines(ctx, prov, l, st.Restore, log); err != nil {
			return err
		}
	} else if err := createMachines(ctx, &wg, l, prov, log); err != nil {
		return err
	}
	if pd, ok := prov.(lab.PowerDriver); ok && l.Rack == nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vm.RetryUEFIBoots(ctx, l, pd, log)
		}()
	}
	state.Update(dir, func(s *state.State) { s.Phase = state.Running })
	log.Info("lab up", "lab", l.Name, "provider", prov.Name(), "boot", l.BootURL())
	<-ctx.Done()
	state.Update(dir, func(s *state.State) { s.Phase = state.Stopping })
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// startServices starts what the machines need before they power on: the
// boot service and its API, dnsmasq and (when the provider drives power and boot
// devices) the virtual BMCs. A service that fails later stops the lab
// through fail; wg waits for them all.
func startServices(ctx context.Context, wg *sync.WaitGroup, l *lab.Lab, prov lab.Provider, log *slog.Logger, fail func(error)) error {
	if l.Rack != nil {
		// A rack's servers: the boot service and dnsmasq on the operator's
		// interface; the servers' BMCs are the rack's own.
		if err := serveBoot(ctx, wg, l, log, fail); err != nil {
			return err
		}
		return runRackDHCP(ctx, wg, l, log, fail)
	}
	if l.Network.SiteDHCP != "" {
		// A simulated rack: the site's DHCP, and an operator's port on the
		// segment; labctl's boot service is the operator's to run.
		if err := joinOperator(ctx, l); err != nil {
			return err
		}
		runKea(ctx, wg, l, log, fail)
	} else {
		// The bridge's IPv6 address first: the boot service listens on it
		// too when the lab has an IPv6 subnet, which then cannot do without.
		routerErr := addRouterAddress(ctx, l)
		if routerErr != nil && l.Network.Subnet6.IsValid() {
			return fmt.Errorf("lab IPv6 subnet %s: %w", l.Network.Subnet6, routerErr)
		}
		if err := serveBoot(ctx, wg, l, log, fail); err != nil {
			return err
		}
		runDnsmasq(ctx, wg, l, routerErr, log, fail)
	}
	if at, ok := prov.(netem.Attacher); ok {
		// The relays that delay or reorder a machine's frames, set by
		// delay and reorder faults from another process.
		links := &netem.Links{Lab: l, Attacher: at, Log: log}
		context.AfterFunc(ctx, links.Close)
		if err := serveSocket(ctx, wg, l.LinkFaultSocket(), netem.Handler(links), "link relays: API", fail); err != nil {
			return err
		}
	}
	if bp, ok := prov.(lab.PowerDriver); ok {
		return startBMCs(ctx, wg, l, bp, log, fail)
	}
	return nil
}
