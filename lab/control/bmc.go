package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bmc/protocols"
)

// BMCClients are BMC clients for the named machines of an inventory.
func BMCClients(invPath string, names []string) ([]*bmc.Client, error) {
	if invPath == "" {
		return nil, errors.New("--inventory: required")
	}
	inv, err := inventory.Load(invPath)
	if err != nil {
		return nil, err
	}
	machines, err := inv.Select(names)
	if err != nil {
		return nil, err
	}
	clients := make([]*bmc.Client, len(machines))
	for i, m := range machines {
		clients[i] = &bmc.Client{Server: m.BMCServer(), Dialers: protocols.Dialers()}
	}
	return clients, nil
}

// OnEach runs fn for every machine concurrently, prints one line per
// machine in the order given, and fails if any machine failed.
func OnEach(ctx context.Context, out io.Writer, clients []*bmc.Client, fn func(context.Context, *bmc.Client) (string, error)) error {
	msgs := make([]string, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs[i], errs[i] = fn(ctx, c)
		}()
	}
	wg.Wait()
	failed := 0
	for i, c := range clients {
		if errs[i] != nil {
			failed++
			fmt.Fprintf(out, "%s: FAILED: %v\n", c.Server.Name, errs[i])
			continue
		}
		fmt.Fprintf(out, "%s: %s\n", c.Server.Name, msgs[i])
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d machines failed", failed, len(clients))
	}
	return nil
}
