package fault

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/scenario"
)

// delayProbes is how many connections from the gateway time a machine's
// link, before and after a delay: their median is what is compared.
const delayProbes = 5

func delayer(env Env) (Delayer, error) {
	dl, ok := env.Provider.(Delayer)
	if !ok {
		return nil, fmt.Errorf("provider %s cannot delay a machine's frames", env.Provider.Name())
	}
	return dl, nil
}

// delay holds each machine's frames for up to f.Delay and proves it: a
// connection from the gateway to its SSH port crosses the link twice (SYN,
// SYN-ACK), and the reply waits for the filter's next release, so it takes
// about the delay or more; the median of the connections after must
// exceed the median before by half the delay at least.
func delay(ctx context.Context, env Env, f scenario.Fault) error {
	dl, err := delayer(env)
	if err != nil {
		return err
	}
	d := time.Duration(f.Delay)
	return onEach(f.Machines, func(name string) error {
		m, _, err := env.Lab.Machine(name)
		if err != nil {
			return err
		}
		before, err := env.connectTime(ctx, m)
		if err != nil {
			return fmt.Errorf("before the delay, the gateway does not reach its port 22, so probes would prove nothing: %w", err)
		}
		if err := dl.SetDelay(ctx, env.Lab, name, d); err != nil {
			return err
		}
		after, err := env.connectTime(ctx, m)
		if err != nil {
			return fmt.Errorf("under the delay: %w", err)
		}
		if after < before+d/2 {
			return &NotEffectiveError{Fault: f.String(), Reason: fmt.Sprintf("connections from the gateway to %s took %s before and %s after (median of %d): a delay of up to %s adds about %s",
				name, before.Round(time.Millisecond), after.Round(time.Millisecond), delayProbes, d, d)}
		}
		return nil
	})
}

// connectTime is the median time of delayProbes connections, one after
// another, from the gateway to m's port 22.
func (env Env) connectTime(ctx context.Context, m lab.Machine) (time.Duration, error) {
	times := make([]time.Duration, delayProbes)
	for i := range times {
		pctx, cancel := context.WithTimeout(ctx, env.probe())
		begin := time.Now()
		c, err := netns.Dial(pctx, env.Lab.Netns, "tcp", net.JoinHostPort(m.IP.String(), "22"))
		times[i] = time.Since(begin)
		cancel()
		if err != nil {
			return 0, err
		}
		c.Close()
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}
