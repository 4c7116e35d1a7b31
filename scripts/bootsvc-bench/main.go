// Command bootsvc-bench measures a real `labctl serve` on loopback:
//
//	flood: the machine log's memory under a flood of reports from 100,000
//	       distinct MACs, then every kept machine filled to its bounds;
//	       prints the serve process's peak RSS (VmHWM).
//	ipxe:  /ipxe throughput beside a bare net/http handler answering the
//	       same bytes, both driven by wrk in the same run, alternately.
//
// Run from the repository root after `make build` (or `make bench-bootsvc`).
// Figures and conditions: docs/benchmarks.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/bootlog"
)

func main() {
	labctl := flag.String("labctl", "bin/labctl", "labctl binary to run as `labctl serve`")
	data := flag.String("data", "bootsvc/examples", "data directory to serve")
	macs := flag.Int("macs", 100000, "flood: distinct MACs that report")
	workers := flag.Int("workers", 16, "flood: concurrent keep-alive clients")
	rounds := flag.Int("rounds", 3, "ipxe: rounds of (bare, /ipxe)")
	duration := flag.String("duration", "10s", "ipxe: wrk's -d per measurement")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [flags] flood|ipxe\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx := context.Background()
	var err error
	switch flag.Arg(0) {
	case "flood":
		err = flood(ctx, *labctl, *data, *macs, *workers)
	case "ipxe":
		err = ipxe(ctx, *labctl, *data, *rounds, *duration)
	case "bare": // the bare handler, run as a child process by ipxe
		err = bare(flag.Arg(1), flag.Arg(2))
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bootsvc-bench:", err)
		os.Exit(1)
	}
}

// server is a child process answering HTTP on loopback.
type server struct {
	cmd  *exec.Cmd
	base string
}

// start runs argv with its output in logFile, listening on a free loopback
// port that argv's "ADDR" is replaced with, and waits until path answers.
func start(ctx context.Context, logFile, path string, argv ...string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	for i, a := range argv {
		argv[i] = strings.ReplaceAll(a, "ADDR", addr)
	}
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(s.base + path); err == nil {
			resp.Body.Close()
			return s, nil
		}
	}
	s.stop()
	return nil, fmt.Errorf("%s did not answer %s within 20s (log %s)", argv[0], path, logFile)
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// memory returns the process's peak and current resident set in MiB.
func (s *server) memory() (hwm, rss float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	field := func(name string) float64 {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+(\d+) kB`).FindSubmatch(b)
		if m == nil {
			return -1
		}
		kb, _ := strconv.ParseFloat(string(m[1]), 64)
		return kb / 1024
	}
	return field("VmHWM"), field("VmRSS"), nil
}

func serve(ctx context.Context, labctl, data, logFile string) (*server, error) {
	return start(ctx, logFile, "/healthz", labctl, "serve", "--data", data, "--address", "ADDR")
}

// floodMAC is the i-th of up to 2^24 distinct, locally administered MACs.
func floodMAC(i int) string {
	return fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)
}

// request is one request of a flood; run sends them from workers clients.
type request struct {
	method, path string
	body         []byte
}

func run(ctx context.Context, base string, workers int, reqs func(yield func(request) bool)) (int, time.Duration, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ch := make(chan request, workers)
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	began := time.Now()
	for range workers {
		wg.Go(func() {
			for r := range ch {
				req, _ := http.NewRequestWithContext(ctx, r.method, base+r.path, strings.NewReader(string(r.body)))
				resp, err := hc.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode >= 300 {
						err = fmt.Errorf("%s %.60s: %s", r.method, r.path, resp.Status)
					}
				}
				if err != nil {
					once.Do(func() { firstErr = err })
				}
				n.Add(1)
			}
		})
	}
	for r := range reqs {
		ch <- r
	}
	close(ch)
	wg.Wait()
	return int(n.Load()), time.Since(began), firstErr
}

func flood(ctx context.Context, labctl, data string, macs, workers int) error {
	dir, err := os.MkdirTemp("", "bootsvc-flood-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := serve(ctx, labctl, data, filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	defer srv.stop()
	body := []byte(strings.Repeat("d", 2*bootsvc.MaxDetail)) // clipped to MaxDetail
	report := func(mac, name string) request {
		return request{http.MethodPost, "/report?mac=" + mac + "&event=" + name, body}
	}
	fmt.Printf("labctl serve (pid %d), %d workers, report bodies of %d bytes\n\n", srv.cmd.Process.Pid, workers, len(body))
	fmt.Println("| phase | requests | req/s | machines kept | most events of one | peak RSS (VmHWM) | RSS after |")
	fmt.Println("|---|---|---|---|---|---|---|")
	phase := func(name string, reqs func(yield func(request) bool)) ([]bootlog.Record, error) {
		n, took, err := run(ctx, srv.base, workers, reqs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		hwm, rss, err := srv.memory()
		if err != nil {
			return nil, err
		}
		ms, err := machines(srv.base)
		if err != nil {
			return nil, err
		}
		most := 0
		for _, m := range ms {
			most = max(most, len(m.Events))
		}
		fmt.Printf("| %s | %d | %.0f | %d | %d | %.1f MiB | %.1f MiB |\n", name, n, float64(n)/took.Seconds(), len(ms), most, hwm, rss)
		return ms, nil
	}
	kept, err := phase(fmt.Sprintf("%d distinct MACs, one report each", macs), func(yield func(request) bool) {
		for i := range macs {
			if !yield(report(floodMAC(i), "booted")) {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	// Worst case: every kept machine given the most labels, the longest
	// event names and the most events the log keeps.
	label := strings.Repeat("v", 250)
	name := strings.Repeat("n", 100)
	_, err = phase("every kept machine filled: 16 labels, 64 reports", func(yield func(request) bool) {
		for _, m := range kept {
			for half := range 2 {
				q := "/boot.ipxe?mac=" + m.MAC
				for k := range 8 {
					q += fmt.Sprintf("&l%02d=%s", half*8+k, label)
				}
				if !yield(request{method: http.MethodGet, path: q}) {
					return
				}
			}
			for range bootsvc.MaxEvents {
				if !yield(report(m.MAC, name)) {
					return
				}
			}
		}
	})
	return err
}

func machines(base string) ([]bootlog.Record, error) {
	resp, err := http.Get(base + "/machines")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ms []bootlog.Record
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, fmt.Errorf("GET /machines: %w", err)
	}
	return ms, nil
}

// ipxeQuery is what iPXE asks after /boot.ipxe, for the examples' node1.
const ipxeQuery = "/ipxe?uuid=0d5a8c0e-0000-4000-8000-000000000001&mac=52-54-00-a1-9c-ae&domain=&hostname=node1&serial="

func ipxe(ctx context.Context, labctl, data string, rounds int, duration string) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found (apt-get install wrk)")
	}
	dir, err := os.MkdirTemp("", "bootsvc-ipxe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	svc, err := serve(ctx, labctl, data, filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	defer svc.stop()
	resp, err := http.Get(svc.base + ipxeQuery)
	if err != nil {
		return err
	}
	script, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %v", ipxeQuery, resp.Status, err)
	}
	scriptFile := filepath.Join(dir, "script.ipxe")
	if err := os.WriteFile(scriptFile, script, 0o644); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bareSrv, err := start(ctx, filepath.Join(dir, "bare.log"), "/ipxe", self, "bare", "ADDR", scriptFile)
	if err != nil {
		return err
	}
	defer bareSrv.stop()

	fmt.Printf("wrk -t1 -c16 -d%s, %d rounds alternating; labctl serve (log to a file) and a bare net/http handler answering the same %d bytes\n\n", duration, rounds, len(script))
	fmt.Println("| round | bare req/s | /ipxe req/s | ratio | bare CPU µs/req | /ipxe CPU µs/req | ratio (CPU) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	var ratios, cpuRatios []float64
	for i := range rounds {
		b, bcpu, err := bareSrv.measure(ctx, duration)
		if err != nil {
			return err
		}
		l, lcpu, err := svc.measure(ctx, duration)
		if err != nil {
			return err
		}
		ratios, cpuRatios = append(ratios, l/b), append(cpuRatios, bcpu/lcpu)
		fmt.Printf("| %d | %.0f | %.0f | %.0f%% | %.1f | %.1f | %.0f%% |\n", i+1, b, l, 100*l/b, bcpu, lcpu, 100*bcpu/lcpu)
	}
	slices.Sort(ratios)
	slices.Sort(cpuRatios)
	fmt.Printf("\nmedian ratio: %.0f%% of the bare handler's req/s; %.0f%% by the server's CPU time per request\n",
		100*ratios[len(ratios)/2], 100*cpuRatios[len(cpuRatios)/2])
	return nil
}

// measure runs wrk against s and returns its rate and the server
// process's CPU time (user and system) per request in µs, which a machine
// shared with other work disturbs less than the rate.
func (s *server) measure(ctx context.Context, duration string) (float64, float64, error) {
	before, err := s.cpu()
	if err != nil {
		return 0, 0, err
	}
	rate, n, err := wrk(ctx, s.base+ipxeQuery, duration)
	if err != nil {
		return 0, 0, err
	}
	after, err := s.cpu()
	if err != nil {
		return 0, 0, err
	}
	return rate, float64((after - before).Microseconds()) / float64(n), nil
}

// cpu is the process's user and system time so far (/proc/PID/stat, in
// clock ticks of 10 ms).
func (s *server) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

var (
	wrkRate     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
)

// wrk returns the rate and number of requests answered.
func wrk(ctx context.Context, url, duration string) (float64, int, error) {
	out, err := exec.CommandContext(ctx, "wrk", "-t1", "-c16", "-d"+duration, url).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		return 0, 0, fmt.Errorf("wrk %s: errors\n%s", url, out)
	}
	rate, n := wrkRate.FindSubmatch(out), wrkRequests.FindSubmatch(out)
	if rate == nil || n == nil {
		return 0, 0, fmt.Errorf("wrk %s: no Requests/sec in\n%s", url, out)
	}
	r, _ := strconv.ParseFloat(string(rate[1]), 64)
	requests, _ := strconv.Atoi(string(n[1]))
	return r, requests, nil
}

// bare answers every request with the script in file, the least net/http
// can do for /ipxe.
func bare(addr, file string) error {
	script, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(script)
	}))
}
