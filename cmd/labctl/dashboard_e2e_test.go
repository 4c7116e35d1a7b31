package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/labctl/labctl/bootsvc/bootsvctest"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/dashboard"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/state"
)

// dashboardWatch is a headless Chromium on the dashboard's page of an e2e
// lab, opened before the lab comes up so that it sees the machines' phases
// change while they boot (pxe-smoke converges in well under a minute).
type dashboardWatch struct {
	e           *e2eEnv
	url         string
	browser     context.Context
	bootService string // a real boot service's URL, standing in for a labctl serve
}

// phaseRecorder notes, in the page itself, every phase each machine's row
// shows as the server's events replace the page's body, and marks the page
// so that a reload would be seen (the mark would be gone).
const phaseRecorder = `(function(){
window.labctlMark = "same page";
window.labctlPhases = {};
function note(){document.querySelectorAll("tr[data-machine]").forEach(function(tr){
 var p = tr.querySelector("td.phase").getAttribute("data-phase"), n = tr.getAttribute("data-machine");
 var seen = window.labctlPhases[n] = window.labctlPhases[n] || [];
 if (seen[seen.length-1] !== p) seen.push(p);});}
new MutationObserver(note).observe(document.getElementById("live"), {childList: true, subtree: true});
note(); return true;})()`

func openDashboard(t *testing.T, e *e2eEnv) *dashboardWatch {
	t.Helper()
	begin := time.Now()
	defer func() { t.Logf("dashboard open in chromium after %s", time.Since(begin).Round(time.Millisecond)) }()
	chromium := testenv.Tool(t, "chromium", "chromium")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, bs := bootsvctest.Serve(t) // on loopback, where the dashboard reaches it
	srv := &dashboard.Server{Root: e.stateDir, Prober: control.Prober{}, BootService: bs.URL}
	go srv.Serve(ctx, ln)
	alloc, _ := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1100, 900))...)
	browser, _ := chromedp.NewContext(alloc)
	d := &dashboardWatch{e: e, url: "http://" + ln.Addr().String() + "/", browser: browser, bootService: bs.URL}
	if err := chromedp.Do(browser, chromedp.Navigate(d.url+"labs/"+e.scenario), chromedp.WaitReady("#live")); err != nil {
		t.Fatalf("open the dashboard in chromium: %v", err)
	}
	if _, err := chromedp.Run(browser, chromedp.Evaluate[bool](phaseRecorder)); err != nil {
		t.Fatalf("watch the dashboard's phases: %v", err)
	}
	return d
}

// verify runs while the lab is still up after `labctl test --keep`: the
// page saw phases change without a reload, the report in art lists every
// check, and a non-loopback address is refused without the token.
func (d *dashboardWatch) verify(art string) func(t *testing.T) {
	return func(t *testing.T) {
		ctx, cancel := context.WithTimeout(d.browser, 2*time.Minute)
		defer cancel()
		shots := t.ArtifactDir()
		// The page ends on the last check's phase once the stream caught up.
		if err := chromedp.Do(ctx,
			chromedp.WaitVisible(`tr[data-machine="uefi1"] td.phase[data-phase="checks"]`),
			chromedp.WaitVisible(`tr[data-machine="bios1"] td.phase[data-phase="checks"]`)); err != nil {
			t.Fatalf("dashboard page: %v", err)
		}
		mark, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.labctlMark`))
		if err != nil {
			t.Fatal(err)
		}
		phases, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][]string](`window.labctlPhases`))
		if err != nil {
			t.Fatal(err)
		}
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(shots, "dashboard.png"), shot, 0o644)
		if mark != "same page" {
			t.Errorf("the page was reloaded (its mark is %q)", mark)
		}
		for _, m := range []string{"bios1", "uefi1"} {
			// At least one phase before the last, seen change on the page.
			seen := slices.DeleteFunc(slices.Clone(phases[m]), func(p string) bool { return p == "" })
			if len(seen) < 2 || seen[len(seen)-1] != "checks" {
				t.Errorf("machine %s: phases seen on the page %q, want at least two ending with checks", m, phases[m])
			}
		}
		t.Logf("phases seen live: %v; screenshot %s", phases, filepath.Join(shots, "dashboard.png"))

		// The report in a tab of its own: the dashboard's stays open to see the lab go down.
		tab, closeTab := chromedp.NewContext(d.browser)
		defer closeTab()
		ctx, cancel = context.WithTimeout(tab, time.Minute)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(art, control.ReportFile)), chromedp.WaitReady("#checks")); err != nil {
			t.Fatalf("report: %v", err)
		}
		checks, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("tr.check")).map(function(tr){
			return tr.getAttribute("data-check")+" "+tr.querySelector("td:nth-of-type(1)").textContent+" "+tr.querySelector("td:nth-of-type(2)").textContent})`))
		if err != nil {
			t.Fatalf("report's checks: %v", err)
		}
		if shot, err = chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(shots, "report.png"), shot, 0o644)
		slices.Sort(checks)
		if want := []string{"booted-bios-profile bios1 passed", "booted-uefi-profile uefi1 passed"}; !slices.Equal(checks, want) {
			t.Errorf("report's checks %q, want %q", checks, want)
		}
		t.Run("serve page", d.servePage)
		d.refusesWithoutToken(t)
	}
}

// servePage opens the standing boot service's page (/serve): a machine
// that asks the boot service for its script appears on it without a reload.
func (d *dashboardWatch) servePage(t *testing.T) {
	tab, closeTab := chromedp.NewContext(d.browser)
	defer closeTab()
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"serve"), chromedp.WaitVisible(`//p[contains(., "The boot service has seen no machine yet")]`)); err != nil {
		t.Fatalf("/serve before any machine asked: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.labctlMark = "same page"; true`)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(d.bootService + "/ipxe?mac=52-54-00-79-00-21&uuid=6f1d2c3b-79a1-4e2f-8c00-000000000021")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	row := `tr[data-mac="52:54:00:79:00:21"]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(row)); err != nil {
		t.Fatalf("/serve does not show the machine that asked: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.labctlMark + ": " + document.querySelector('`+row+`').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "same page: "; !strings.HasPrefix(got, want) || !strings.Contains(got, "6f1d2c3b-79a1-4e2f-8c00-000000000021") || !strings.Contains(got, "ipxe") {
		t.Errorf("/serve's row: %q, want the machine's UUID and its ipxe request, on the same page", got)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(t.ArtifactDir(), "serve.png"), shot, 0o644)
}

// sawDown runs after `labctl down`: the page still open says the lab is
// down, without a reload, and still shows its machines as last seen.
func (d *dashboardWatch) sawDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(d.browser, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`//p[contains(., "This lab is down: it was taken down")]`)); err != nil {
		t.Fatalf("the dashboard does not say the lab is down: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.labctlMark + " " + document.querySelectorAll("tr[data-machine]").length`))
	if err != nil || got != "same page 2" {
		t.Errorf("after down: %q, %v; want the same page with its 2 machines", got, err)
	}
}

// refusesWithoutToken serves the dashboard on the lab's gateway, inside
// the test's own namespace: without a token Serve refuses that address;
// with one, a request without it gets 401 naming the token.
func (d *dashboardWatch) refusesWithoutToken(t *testing.T) {
	st, err := state.Load(d.e.labDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(st.Lab.Network.Gateway.String(), "0")
	ln, err := netns.Listen(d.e.netns, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var lbe *dashboard.LoopbackError
	if err := (&dashboard.Server{Root: d.e.stateDir}).Serve(context.Background(), ln); !errors.As(err, &lbe) {
		t.Fatalf("Serve on %s without a token: %v", ln.Addr(), err)
	}
	ln, err = netns.Listen(d.e.netns, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&dashboard.Server{Root: d.e.stateDir, Token: "e2e-token"}).Serve(ctx, ln)
	client := netns.HTTPClient(d.e.netns, 10*time.Second)
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/labs/" + d.e.scenario, http.StatusUnauthorized, "missing dashboard token"},
		{"/labs/" + d.e.scenario + "?token=e2e-token", http.StatusOK, `data-machine="bios1"`},
	} {
		resp, err := client.Get("http://" + ln.Addr().String() + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s from %s: %d %q, want %d containing %q", tc.path, ln.Addr(), resp.StatusCode, body, tc.code, tc.want)
		}
	}
}
