package rpc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pb "github.com/labctl/labctl/bootsvc/rpc/serverpb"
	"github.com/labctl/labctl/bootsvc/rpc/storagepb"
)

// benchFixture is a data directory of 100 groups served over the API.
func benchFixture(b *testing.B) (*fixture, client) {
	f := newFixture(b)
	c := f.client(b)
	put(b, c)
	ctx := ctxT(b)
	for i := range 100 {
		g := &storagepb.Group{Id: fmt.Sprintf("g%d", i), Profile: "worker", Selector: map[string]string{"mac": fmt.Sprintf("52:54:00:00:01:%02x", i)}}
		if _, err := c.groups.GroupPut(ctx, &pb.GroupPutRequest{Group: g}); err != nil {
			b.Fatal(err)
		}
	}
	return f, c
}

// BenchmarkGroupPut: GroupPut calls over mutual TLS, one after another.
func BenchmarkGroupPut(b *testing.B) {
	_, c := benchFixture(b)
	ctx := ctxT(b)
	for i := 0; b.Loop(); i++ {
		g := &storagepb.Group{Id: fmt.Sprintf("new%d", i%10), Profile: "worker", Selector: map[string]string{"mac": fmt.Sprintf("52:54:00:00:02:%02x", i%10)}}
		if _, err := c.groups.GroupPut(ctx, &pb.GroupPutRequest{Group: g}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkPutUntilIPXE: the time from a ProfilePut until /ipxe serves the
// new kernel, and how many GETs that took (1: the put is served at once).
func BenchmarkPutUntilIPXE(b *testing.B) {
	f, c := benchFixture(b)
	ctx := ctxT(b)
	var total time.Duration
	gets := 0
	for i := 0; b.Loop(); i++ {
		p := &storagepb.Profile{Id: "worker", Boot: &storagepb.NetBoot{Kernel: fmt.Sprintf("/assets/k%d", i)}}
		start := time.Now()
		if _, err := c.profiles.ProfilePut(ctx, &pb.ProfilePutRequest{Profile: p}); err != nil {
			b.Fatal(err)
		}
		for {
			gets++
			if _, body := f.get(b, "/ipxe?mac="+mac); strings.Contains(body, p.Boot.Kernel+"\n") {
				break
			}
			if time.Since(start) > 10*time.Second {
				b.Fatalf("/ipxe did not serve %s within 10s", p.Boot.Kernel)
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-until-ipxe")
	b.ReportMetric(float64(gets)/float64(b.N), "gets/op")
}
