package control

import (
	"context"
	"sync"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
	"github.com/labctl/labctl/bmc/protocols"
)

// BMCClients are BMC clients for the named machines of an inventory.
func BMCClients(invPath string, names []string) ([]*bmc.Client, error) {
	if invPath == "" {
		return nil, &MissingError{Field: "inventory"}
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

// Outcome is what was done to one machine: Message when it worked, Err
// when not.
type Outcome struct {
	Machine string
	Message string
	Err     error
}

// OnEach runs fn for every machine concurrently and returns one outcome per
// machine, in the order given.
func OnEach(ctx context.Context, clients []*bmc.Client, fn func(context.Context, *bmc.Client) (string, error)) []Outcome {
	outcomes := make([]Outcome, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, err := fn(ctx, c)
			outcomes[i] = Outcome{Machine: c.Server.Name, Message: msg, Err: err}
		}()
	}
	wg.Wait()
	return outcomes
}
