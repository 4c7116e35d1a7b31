package bootsvc

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Figures and commands are in docs/benchmarks.md ("Boot service writes").

// BenchmarkPutGroup: one group put (judged against the state in memory,
// written atomically with fsync, swapped in) into a data directory of
// 10,000 groups.
func BenchmarkPutGroup(b *testing.B) {
	s, err := New(Config{DataDir: benchData(b), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.PutGroup(benchPut(i), []byte(`{"n":1}`)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkPutGroupConcurrent: the same with 16 writers at once, as
// terraform-provider-matchbox (10 by default) or several bootcmd runs put:
// their waits on the disk overlap.
func BenchmarkPutGroupConcurrent(b *testing.B) {
	s, err := New(Config{DataDir: benchData(b), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(8) // 8 per core: 16 here
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.PutGroup(benchPut(int(next.Add(1))), []byte(`{"n":1}`)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// benchPut is a new group (1,000 ids, rewritten in turn) for a MAC no
// benchData group holds.
func benchPut(i int) Group {
	return Group{ID: fmt.Sprintf("new%d", i%1000), Profile: "raw", Selector: map[string]string{"mac": benchMAC(benchGroups + i%1000)}}
}

// BenchmarkIPXE10kGroupsWhileWriting is BenchmarkIPXE10kGroups with one
// writer putting groups as fast as it can throughout; compare req/s.
func BenchmarkIPXE10kGroupsWhileWriting(b *testing.B) {
	s, err := New(Config{DataDir: benchData(b), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	base := serveLoopback(b, s)
	ctx, cancel := context.WithCancel(context.Background())
	var puts atomic.Int64
	var putErr atomic.Value
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			if err := s.PutGroup(benchPut(i), nil); err != nil {
				putErr.Store(err)
				return
			}
			puts.Add(1)
		}
	})
	start := time.Now()
	loadTest(b, 16, func(i int) string {
		return base + "/ipxe?uuid=&mac=" + strings.ReplaceAll(benchMAC(i%benchGroups), ":", "-") + "&domain=&hostname=&serial=&arch=x86_64"
	})
	cancel()
	wg.Wait()
	if err := putErr.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(puts.Load())/time.Since(start).Seconds(), "puts/s")
}
