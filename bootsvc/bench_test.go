package bootsvc

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Figures and commands are in docs/benchmarks.md ("Boot service").

const benchGroups = 10000

func benchMAC(i int) string {
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)
}

// benchData is 10,000 groups, one per MAC, plus a default, with a raw
// Ignition profile and a Butane one.
func benchData(b *testing.B) string {
	dir := b.TempDir()
	files := map[string]string{
		"groups/default.json":  `{"id": "default", "profile": "raw"}`,
		"profiles/raw.json":    `{"id": "raw", "boot": {"kernel": "/assets/vmlinuz", "initrd": ["/assets/initrd.img"], "args": ["initrd=initrd.img", "console=ttyS0"]}, "ignition_id": "node.ign"}`,
		"profiles/butane.json": `{"id": "butane", "boot": {"kernel": "/assets/vmlinuz", "initrd": ["/assets/initrd.img"], "args": ["initrd=initrd.img", "console=ttyS0"]}, "ignition_id": "node.bu"}`,
		"ignition/node.ign":    `{"ignition": {"version": "3.3.0"}, "storage": {"files": [{"path": "/etc/motd", "contents": {"source": "data:,hello%0A"}}]}}`,
		"profiles/unique.json": `{"id": "unique", "boot": {"kernel": "/assets/vmlinuz"}, "ignition_id": "unique.bu"}`,
		"groups/unique.json":   `{"id": "unique", "profile": "unique", "selector": {"role": "unique"}}`,
		"ignition/unique.bu":   "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /etc/query\n      contents:\n        inline: {{.request.raw_query}}\n",
		"ignition/node.bu":     "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /etc/hostname\n      contents:\n        inline: {{.hostname}}\n",
	}
	writeTree(b, dir, files)
	for i := range benchGroups {
		profile := "raw"
		if i%2 == 1 {
			profile = "butane"
		}
		g := fmt.Sprintf(`{"id": "m%d", "profile": %q, "selector": {"mac": %q}, "metadata": {"hostname": "m%d"}}`, i, profile, benchMAC(i), i)
		if err := os.WriteFile(filepath.Join(dir, "groups", fmt.Sprintf("m%d.json", i)), []byte(g), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// serveLoopback runs s on 127.0.0.1 until the benchmark ends.
func serveLoopback(b *testing.B, s *Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	b.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// loadTest sends b.N requests from workers keep-alive clients and reports
// requests per second and the 99th percentile latency.
func loadTest(b *testing.B, workers int, url func(i int) string) {
	tr := &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				resp, err := client.Get(url(i))
				if err != nil {
					failed.Store(err.Error())
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != 200 {
					failed.Store(fmt.Sprintf("%s: status %d", url(i), resp.StatusCode))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func BenchmarkIPXE10kGroups(b *testing.B) {
	s, err := New(Config{DataDir: benchData(b), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	base := serveLoopback(b, s)
	loadTest(b, 16, func(i int) string {
		return base + "/ipxe?uuid=&mac=" + strings.ReplaceAll(benchMAC(i%benchGroups), ":", "-") + "&domain=&hostname=&serial=&arch=x86_64"
	})
}

func BenchmarkIgnition10kGroups(b *testing.B) {
	for _, kind := range []struct {
		name string
		url  func(base string, i int) string
	}{
		{"raw", func(base string, i int) string { return base + "/ignition?mac=" + benchMAC(2*i%benchGroups) }},
		// 100 machines fetching their (per-machine) Butane config again and again.
		{"butane", func(base string, i int) string { return base + "/ignition?mac=" + benchMAC(2*(i%100)+1) }},
		// Every request renders a text never seen before: no cache hit.
		{"butane-uncached", func(base string, i int) string { return base + "/ignition?role=unique&n=" + strconv.Itoa(i) }},
	} {
		b.Run(kind.name, func(b *testing.B) {
			s, err := New(Config{DataDir: benchData(b), Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			base := serveLoopback(b, s)
			loadTest(b, 16, func(i int) string { return kind.url(base, i) })
		})
	}
}

// BenchmarkAssets100MBx100 streams one 100 MB file to 100 concurrent clients
// and reports the aggregate throughput (MB/s) and the peak RSS of the whole
// test process (server and clients) during the run.
func BenchmarkAssets100MBx100(b *testing.B) {
	const size, clients = 100 << 20, 100
	assets := b.TempDir()
	f, err := os.Create(filepath.Join(assets, "rootfs.img"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	dir := b.TempDir()
	writeTree(b, dir, map[string]string{"groups/d.json": `{"id": "d", "profile": "p"}`, "profiles/p.json": `{"id": "p"}`})
	s, err := New(Config{DataDir: dir, AssetsDir: assets, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	url := serveLoopback(b, s) + "/assets/rootfs.img"
	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	resetPeakRSS(b)
	b.SetBytes(size * clients)
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get(url)
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != size {
					errs <- fmt.Errorf("read %d of %d bytes: %v", n, size, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MB")
}

// resetPeakRSS resets VmHWM so that earlier benchmarks (10,000 groups)
// do not count (Linux: "5" to clear_refs).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset peak RSS: %v", err)
	}
}

func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// discardWriter is the least a ResponseWriter can be, so that a benchmark
// of a handler measures the handler. It accepts write deadlines (and does
// nothing with them), so that http.ResponseController does not take its
// error path, which allocates, on every request.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header              { return w.h }
func (w *discardWriter) Write(p []byte) (int, error)      { return len(p), nil }
func (w *discardWriter) WriteHeader(int)                  {}
func (w *discardWriter) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkIPXEHandler is /ipxe's per-request work without the network:
// selection, script and the instrumentation (request log as labctl serve
// writes it, metrics, machine log), beside a handler writing the same
// bytes. The whole-process comparison is scripts/bootsvc-bench.
func BenchmarkIPXEHandler(b *testing.B) {
	s, err := New(Config{DataDir: "examples", Logger: NewLogger(io.Discard, slog.LevelInfo)})
	if err != nil {
		b.Fatal(err)
	}
	const target = "/ipxe?uuid=0d5a8c0e-0000-4000-8000-000000000001&mac=52-54-00-a1-9c-ae&domain=&hostname=node1&serial="
	_, script := get(b, s.Handler(), target)
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, script)
	})
	for _, h := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"ipxe", s.Handler()}} {
		b.Run(h.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, target, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.h.ServeHTTP(w, req)
			}
		})
	}
}
