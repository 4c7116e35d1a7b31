package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/eventlog"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/state"
)

// newLab writes a lab of n machines under root as `labctl up` and Converge
// do: its state file, its event log (each machine leased, fetched its
// script, and one check passed), a serial log each.
func newLab(t testing.TB, root string, n int) (*state.State, *eventlog.Writer) {
	t.Helper()
	l := &lab.Lab{Name: "demo", Netns: "labctl-demo", Dir: state.Dir(root, "demo"),
		Network: lab.Network{Name: "labbr0", Subnet: netip.MustParsePrefix("10.77.0.0/24"), Gateway: netip.MustParseAddr("10.77.0.1"), Domain: "demo.lab"}}
	for i := range n {
		mac, _ := net.ParseMAC(fmt.Sprintf("52:54:00:77:00:%02x", 0x11+i))
		l.Machines = append(l.Machines, lab.Machine{Name: fmt.Sprintf("node%d", i+1), MAC: mac,
			UUID: fmt.Sprintf("7d3c0b1e-0b6a-4d51-9c39-0000000000%02x", 0x11+i), IP: netip.MustParseAddr(fmt.Sprintf("10.77.0.%d", 11+i)),
			MemoryMiB: 512, VCPUs: 1, DiskGiB: 1, Firmware: lab.BIOS, Boot: []power.BootDevice{power.BootNetwork}})
	}
	st := &state.State{Source: "demo", Lab: l, Provider: "qemu", Phase: state.Running}
	if err := state.Create(st); err != nil {
		t.Fatal(err)
	}
	w, err := eventlog.Create(l.EventLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	for i, m := range l.Machines {
		os.MkdirAll(l.MachineDir(m.Name), 0o755)
		os.WriteFile(l.MachineFiles(m.Name).SerialLog, []byte("SeaBIOS\n\x1b[2Jipxe <booting>\nLABCTL-SMOKE: ok\n"), 0o644)
		at := time.Duration(i) * time.Second
		w.Add(eventlog.Entry{At: at + time.Second, Machine: m.Name, Kind: progress.KindLease, Text: "DHCP lease " + m.IP.String()})
		w.Add(eventlog.Entry{At: at + 3*time.Second, Machine: m.Name, Kind: "ipxe", Text: "ipxe script /ipxe (200)"})
		if i == 1 {
			w.Add(eventlog.Entry{At: at + 5*time.Second, Machine: m.Name, Kind: progress.KindStall, Text: "kernel: watchdog: BUG: soft lockup - CPU#0 stuck for 22s!"})
		}
		w.Add(eventlog.Entry{At: at + 9*time.Second, Machine: m.Name, Kind: eventlog.KindCheck, Name: "booted", Status: eventlog.StatusPassed, Output: "booted " + m.Name})
	}
	return st, w
}

func get(t *testing.T, h http.Handler, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	maps := r.Header
	for k, v := range header {
		maps[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPages(t *testing.T) {
	root := t.TempDir()
	newLab(t, root, 2)
	h := (&Server{Root: root}).Handler()
	for _, tc := range []struct {
		path  string
		code  int
		wants []string
	}{
		{"/", 200, []string{`<a href="labs/demo">demo</a>`, "<td>qemu</td>", "<td>running</td>"}},
		{"/labs/demo", 200, []string{`data-machine="node1"`, `data-phase="checks"`, `class="bar p-dhcp"`, `class="mark passed"`,
			`aria-label="node2: dhcp 0.0 to 2.0 s; ipxe 2.0 to 4.0 s; checks 4.0 to 10.0 s; check booted passed at 10.0 s; fault at 6.0 s: kernel: watchdog: BUG: soft lockup - CPU#0 stuck for 22s!; "`, `class="mark fault"`,
			`data-check="booted"`, "booted node2", "LABCTL-SMOKE: ok", `<a href="demo/console/node1">`, `data-events="demo/events"`}},
		{"/labs/other", 200, []string{"No lab called other is up under " + root}},
		{"/labs/demo/console/node1", 200, []string{"LABCTL-SMOKE: ok"}},
		{"/labs/demo/console/nodeX", 404, []string{`lab demo has no machine "nodeX" (its machines: node1, node2)`}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			w := get(t, h, tc.path, nil)
			body := w.Body.String()
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, body)
			}
			for _, want := range tc.wants {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q:\n%s", want, body)
				}
			}
			if strings.HasPrefix(body, "<!doctype") && strings.Contains(body, "\x1b") {
				t.Errorf("terminal escapes reach the page")
			}
		})
	}
}

// The refusal names the token and how to give it; the right token, from a
// header or the query (which sets a cookie), is let through.
func TestToken(t *testing.T) {
	root := t.TempDir()
	h := (&Server{Root: root, Token: "s3cret"}).Handler()
	for _, tc := range []struct {
		name   string
		target string
		header http.Header
		code   int
		want   string
	}{
		{"none", "/", nil, 401, "missing dashboard token: open the page with ?token=TOKEN or send Authorization: Bearer TOKEN"},
		{"wrong", "/?token=nope", nil, 401, "wrong dashboard token: give the token labctl dashboard was started with (--token or --token-file)"},
		{"wrong header", "/labs/x/events", http.Header{"Authorization": {"Bearer nope"}}, 401, "wrong dashboard token"},
		{"query", "/?token=s3cret", nil, 200, "labctl labs"},
		{"header", "/", http.Header{"Authorization": {"Bearer s3cret"}}, 200, "labctl labs"},
		{"cookie", "/", http.Header{"Cookie": {tokenCookie + "=s3cret"}}, 200, "labctl labs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(t, h, tc.target, tc.header)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("got %d %q, want %d containing %q", w.Code, w.Body.String(), tc.code, tc.want)
			}
		})
	}
}

// Serve refuses a non-loopback listener without a token. The port is the
// wildcard address's, which is not loopback; nothing connects to it.
func TestServeRefusesOpenAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = (&Server{Root: t.TempDir()}).Serve(context.Background(), ln)
	var lbe *LoopbackError
	if !errors.As(err, &lbe) || !strings.Contains(err.Error(), "not a loopback address, so a token or client certificates are required") {
		t.Fatalf("Serve on %s without a token: %v", ln.Addr(), err)
	}
}

// A live page is sent again when the lab's event log grows, and says the
// lab is down (showing what it last saw) once its state is gone.
func TestLiveUpdates(t *testing.T) {
	root := t.TempDir()
	st, w := newLab(t, root, 1)
	srv := httptest.NewServer((&Server{Root: root, Tick: 20 * time.Millisecond}).Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/labs/demo/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := pageEvents(resp.Body)
	waitFor := func(want string) {
		t.Helper()
		for page := range events {
			if strings.Contains(page, want) {
				return
			}
		}
		t.Fatalf("stream ended before a page with %q", want)
	}
	waitFor(`data-phase="checks"`)
	w.Add(eventlog.Entry{At: 20 * time.Second, Machine: "node1", Kind: eventlog.KindCheck, Name: "second", Status: "failed", Reason: "no marker"})
	waitFor(`data-check="second"`)
	if err := state.Remove(st.Lab.Dir); err != nil {
		t.Fatal(err)
	}
	waitFor("This lab is down: it was taken down (its state file is gone)")
}

// pageEvents yields the pages of a server-sent event stream.
func pageEvents(r io.Reader) func(func(string) bool) {
	return func(yield func(string) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		var page bytes.Buffer
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "data: "):
				page.WriteString(line[len("data: "):] + "\n")
			case line == "" && page.Len() > 0:
				if !yield(page.String()) {
					return
				}
				page.Reset()
			}
		}
	}
}

func TestReportIsSelfContained(t *testing.T) {
	root := t.TempDir()
	st, _ := newLab(t, root, 2)
	v, err := Read(context.Background(), st.Lab.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.Links = []Link{{Name: "junit.xml", Href: "junit.xml"}}
	var buf bytes.Buffer
	if err := WriteReport(&buf, v); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"labctl test report: demo", `data-check="booted"`, `<a href="junit.xml">junit.xml</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, fetch := range []string{"<script", "src=", "http://", "https://", "EventSource"} {
		if strings.Contains(page, fetch) {
			t.Errorf("report has %q: it must need nothing beyond itself", fetch)
		}
	}
}

// BenchmarkLabPage asks for a 5-machine lab's page over HTTP as a browser
// would, and reports its time to first byte and size (docs/benchmarks.md).
// The lab is files only: the prober (power from the provider) is not asked.
func BenchmarkLabPage(b *testing.B) {
	root := b.TempDir()
	newLab(b, root, 5)
	srv := httptest.NewServer((&Server{Root: root}).Handler())
	defer srv.Close()
	var size int
	var ttfb time.Duration
	for b.Loop() {
		var start time.Time
		trace := &httptrace.ClientTrace{
			WroteRequest:         func(httptrace.WroteRequestInfo) { start = time.Now() },
			GotFirstResponseByte: func() { ttfb += time.Since(start) },
		}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", srv.URL+"/labs/demo", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		size = len(body)
	}
	b.ReportMetric(float64(size), "bytes/page")
	b.ReportMetric(float64(ttfb.Microseconds())/float64(b.N)/1000, "ms-to-first-byte")
}
