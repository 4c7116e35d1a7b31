package bootsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// labData is a small data directory exercising every endpoint.
var labData = map[string]string{
	"groups/default.json": `{"id": "default", "profile": "live",
		"metadata": {"cluster": "lab", "ssh_keys": ["ssh-ed25519 AAAA k1"], "etcd": {"name": "e0", "peers": 3}, "request": "lost"}}`,
	"groups/node1.json": `{"id": "node1", "profile": "live", "selector": {"mac": "52-54-00-A1-9C-AE"},
		"metadata": {"cluster": "lab", "hostname": "node1", "mac": "from-metadata", "ssh_keys": []}}`,
	"groups/installed.json": `{"id": "installed", "profile": "disk", "selector": {"os": "installed"}, "metadata": {"cluster": "lab"}}`,
	"groups/broken.json":    `{"id": "broken", "profile": "broken", "selector": {"role": "broken"}}`,
	"groups/invalid.json":   `{"id": "invalid", "profile": "invalid", "selector": {"role": "invalid"}}`,
	"groups/noprofile.json": `{"id": "noprofile", "profile": "missing", "selector": {"role": "ghost"}}`,
	"profiles/live.json": `{"id": "live", "boot": {"kernel": "/assets/vmlinuz", "initrd": ["/assets/initrd.img"], "args": ["initrd=initrd.img", "console=ttyS0"]},
		"ignition_id": "live.bu", "cloud_id": "live.yaml", "generic_id": "live.env"}`,
	"profiles/disk.json":    `{"id": "disk", "boot": {"kernel": "/assets/vmlinuz"}, "ignition_id": "disk.ign"}`,
	"profiles/broken.json":  `{"id": "broken", "boot": {"kernel": "k"}, "ignition_id": "broken.bu", "generic_id": "broken.tmpl", "cloud_id": "notcloud.tmpl"}`,
	"profiles/invalid.json": `{"id": "invalid", "boot": {"kernel": "k"}, "ignition_id": "invalid.bu"}`,
	"ignition/live.bu": `variant: fcos
version: 1.4.0
storage:
  files:
    - path: /etc/cluster
      contents:
        inline: "{{.cluster}} {{.request.query.mac}}"
`,
	"ignition/disk.ign":  `{"ignition": {"version": "3.3.0"}}`,
	"ignition/broken.bu": "variant: fcos\nversion: 1.4.0\n\nstorage:\n  files:\n    - path: /x\n      contents: {inline: \"{{.nosuchkey}}\"}\n",
	// Relative paths are invalid Ignition: Butane must refuse to produce it.
	"ignition/invalid.bu":   "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: relative/path\n",
	"cloud/live.yaml":       "#cloud-config\nhostname: {{.hostname}}\n",
	"cloud/notcloud.tmpl":   "hello\n",
	"generic/live.env":      "CLUSTER={{.cluster}}\nMAC={{.mac}}\nRAW={{.request.raw_query}}\n",
	"generic/broken.tmpl":   "line one\n{{.missing}}\n",
	"generic/sub/ignored~":  "editor backup {{",
	"generic/.live.env.swp": "{{ swap",
}

func TestEndpoints(t *testing.T) {
	h := newTestServer(t, labData, Config{}).Handler()
	tests := []struct {
		name     string
		path     string
		code     int
		contains []string
		exact    string
	}{
		{name: "root", path: "/", code: 200, exact: "labctl boot service\n"},
		{name: "ipxe default", path: "/ipxe?mac=52:54:00:00:00:01", code: 200,
			exact: "#!ipxe\nkernel /assets/vmlinuz initrd=initrd.img console=ttyS0\ninitrd /assets/initrd.img\nboot\n"},
		{name: "ipxe no initrd", path: "/ipxe?os=installed", code: 200, exact: "#!ipxe\nkernel /assets/vmlinuz\nboot\n"},
		{name: "grub", path: "/grub?os=installed", code: 200, contains: []string{"linuxefi \"/assets/vmlinuz\"\n", "initrd \n}"}},
		{name: "ignition from Butane, MAC normalised", path: "/ignition?mac=52-54-00-A1-9C-AE", code: 200,
			contains: []string{`"version":"3.3.0"`, `"path":"/etc/cluster"`, "lab%2052%3A54%3A00%3Aa1%3A9c%3Aae"}},
		{name: "raw ignition served as is", path: "/ignition?os=installed", code: 200, exact: `{"ignition": {"version": "3.3.0"}}`},
		{name: "cloud", path: "/cloud?mac=52:54:00:a1:9c:ae", code: 200, exact: "#cloud-config\nhostname: node1\n"},
		{name: "generic: selectors override metadata, raw query verbatim", path: "/generic?mac=52-54-00-a1-9c-ae&x=1", code: 200,
			exact: "CLUSTER=lab\nMAC=52:54:00:a1:9c:ae\nRAW=mac=52-54-00-a1-9c-ae&x=1\n"},
		{name: "metadata env file, sorted, arrays dropped, request replaced", path: "/metadata?os=live", code: 200,
			exact: "CLUSTER=lab\nETCD_NAME=e0\nETCD_PEERS=3\nREQUEST_QUERY_OS=live\nREQUEST_RAW_QUERY=os=live\n"},
		{name: "no ignition_id is 404", path: "/cloud?os=installed", code: 404, contains: []string{"profile disk (profiles/disk.json) has no cloud_id"}},
		{name: "missing key is 500 naming template and line", path: "/ignition?role=broken", code: 500,
			contains: []string{"ignition/broken.bu:7:", `no entry for key "nosuchkey"`}},
		{name: "generic missing key", path: "/generic?role=broken", code: 500, contains: []string{"generic/broken.tmpl:2:", `"missing"`}},
		{name: "invalid Ignition from Butane is 500", path: "/ignition?role=invalid", code: 500,
			contains: []string{"translate Butane ignition/invalid.bu", "line 5"}},
		{name: "cloud output must be cloud-config", path: "/cloud?role=broken", code: 500, contains: []string{"cloud/notcloud.tmpl", "#cloud-config"}},
		{name: "group naming a missing profile is 500", path: "/ipxe?role=ghost", code: 500, contains: []string{`names profile "missing"`, "groups/noprofile.json"}},
		{name: "bad MAC is 400", path: "/ipxe?mac=52:54:00", code: 400, contains: []string{`invalid MAC "52:54:00"`}},
		{name: "bad UUID is 400", path: "/ignition?uuid=1234", code: 400, contains: []string{"not a UUID"}},
		{name: "oversized query is 400", path: "/ipxe?x=" + strings.Repeat("y", 5000), code: 400, contains: []string{"more than the limit"}},
		{name: "healthz", path: "/healthz", code: 200, exact: "ok\n"},
		{name: "unknown path", path: "/nope", code: 404, contains: []string{"no endpoint GET /nope"}},
		{name: "signature without key", path: "/ipxe.asc", code: 404, contains: []string{"--sign-key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, h, tt.path)
			if code != tt.code {
				t.Fatalf("status %d, want %d; body %q", code, tt.code, body)
			}
			if tt.exact != "" && body != tt.exact {
				t.Errorf("body %q, want %q", body, tt.exact)
			}
			for _, c := range tt.contains {
				if !strings.Contains(body, c) {
					t.Errorf("body %q does not contain %q", body, c)
				}
			}
		})
	}
}

func TestNoMatchingGroupIs404NamingLabels(t *testing.T) {
	h := newTestServer(t, map[string]string{
		"groups/a.json":   `{"id": "a", "profile": "p", "selector": {"os": "installed"}}`,
		"profiles/p.json": `{"id": "p", "boot": {"kernel": "k"}}`,
	}, Config{}).Handler()
	code, body := get(t, h, "/ipxe?mac=52-54-00-A1-9C-AE&os=live")
	if code != 404 || !strings.Contains(body, "{mac=52:54:00:a1:9c:ae,os=live}") {
		t.Fatalf("got %d %q, want 404 naming the labels", code, body)
	}
}

func TestMethods(t *testing.T) {
	h := newTestServer(t, labData, Config{}).Handler()
	for _, tt := range []struct {
		method, path string
		code         int
	}{
		{"HEAD", "/ipxe?os=installed", 200},
		{"POST", "/ipxe?os=installed", 405},
		{"DELETE", "/machines", 405},
	} {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.code {
				t.Errorf("status %d, want %d", rec.Code, tt.code)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	base := map[string]string{
		"groups/a.json":   `{"id": "a", "profile": "p"}`,
		"profiles/p.json": `{"id": "p", "boot": {"kernel": "k"}}`,
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"syntax error names file and line", map[string]string{"groups/b.json": "{\n\"id\": \"b\",\n\"profile\": }"}, []string{"groups/b.json", "line 3"}},
		{"wrong type", map[string]string{"profiles/q.json": `{"id": "q", "boot": {"initrd": "one"}}`}, []string{"profiles/q.json", "line 1"}},
		{"duplicate group id names both files", map[string]string{"groups/b.json": `{"id": "a", "profile": "p"}`}, []string{`group id "a"`, "groups/a.json", "groups/b.json"}},
		{"duplicate profile id", map[string]string{"profiles/q.json": `{"id": "p"}`}, []string{`profile id "p"`, "profiles/p.json", "profiles/q.json"}},
		{"group without profile", map[string]string{"groups/b.json": `{"id": "b"}`}, []string{"groups/b.json", "profile is empty"}},
		{"profile without id", map[string]string{"profiles/q.json": `{"name": "q"}`}, []string{"profiles/q.json", "id is empty"}},
		{"bad selector MAC", map[string]string{"groups/b.json": `{"id": "b", "profile": "p", "selector": {"mac": "zz"}}`}, []string{"groups/b.json", `invalid MAC "zz"`}},
		{"template syntax", map[string]string{"generic/t": "a\n{{.x"}, []string{"generic/t:2"}},
		{"invalid raw Ignition", map[string]string{"ignition/x.ign": `{"ignition": {"version": "3.3.0"}, "storage": {"files": [{"path": "rel"}]}}`}, []string{"ignition/x.ign", "absolute"}},
		{"Ignition 3.6 experimental", map[string]string{"ignition/x.ign": `{"ignition": {"version": "3.6.0-experimental"}}`}, []string{"ignition/x.ign", "unsupported"}},
		{"Ignition spec 2", map[string]string{"ignition/x.ignition": `{"ignition": {"version": "2.2.0"}}`}, []string{"ignition/x.ignition"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, base)
			writeTree(t, dir, tt.files)
			_, err := New(Config{DataDir: dir, Logger: quietLogger()})
			if err == nil {
				t.Fatal("New succeeded on a bad data directory")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestWarningsAreNotErrors(t *testing.T) {
	var logs bytes.Buffer
	s := newTestServer(t, map[string]string{
		"groups/install.json": `{"id": "stage-0", "profile": "p", "ignitionId": "typo"}`,
		"groups/README":       "not a group",
		"profiles/p.json":     `{"id": "p", "boot": {"kernel": "k"}, "ignition_id": "gone.ign"}`,
	}, Config{Logger: slogTo(&logs)})
	if code, _ := get(t, s.Handler(), "/ipxe"); code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, w := range []string{"group id differs from its file name", "unknown field", "profile names a template that does not exist"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
	code, body := get(t, s.Handler(), "/ignition")
	if code != 500 || !strings.Contains(body, "ignition/gone.ign, which does not exist") {
		t.Errorf("missing template: %d %q", code, body)
	}
}

// TestReloadUnderLoad rewrites the data directory while requests run (with
// -race): every answer must come from one whole state, old or new, and a bad
// file on reload must keep the last good state.
func TestReloadUnderLoad(t *testing.T) {
	s := newTestServer(t, map[string]string{
		"groups/a.json":   `{"id": "a", "profile": "p"}`,
		"profiles/p.json": `{"id": "p", "boot": {"kernel": "/k0"}}`,
	}, Config{})
	h := s.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				code, body := get(t, h, "/ipxe?mac=52:54:00:00:00:01")
				if code != 200 || !strings.HasPrefix(body, "#!ipxe\nkernel /k") {
					select {
					case errs <- fmt.Sprintf("%d %q", code, body):
					default:
					}
					return
				}
			}
		}()
	}
	profile := filepath.Join(s.cfg.DataDir, "profiles/p.json")
	for i := 1; i <= 50; i++ {
		os.WriteFile(profile, fmt.Appendf(nil, `{"id": "p", "boot": {"kernel": "/k%d"}}`, i), 0o644)
		if err := s.Reload(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	os.WriteFile(profile, []byte(`{"id": "p", "boot": `), 0o644)
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), "profiles/p.json") {
		t.Errorf("bad reload: err = %v, want one naming profiles/p.json", err)
	}
	cancel()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("request during reload: %s", e)
	}
	if _, body := get(t, h, "/ipxe"); !strings.Contains(body, "kernel /k50\n") {
		t.Errorf("after a bad reload: %q, want the last good state (/k50)", body)
	}
}

// TestServeWatchesAndShutsDown serves on loopback, changes a file, waits for
// the poll to pick it up, and checks that cancelling ctx stops Serve.
func TestServeWatchesAndShutsDown(t *testing.T) {
	s := newTestServer(t, map[string]string{
		"groups/a.json":   `{"id": "a", "profile": "p"}`,
		"profiles/p.json": `{"id": "p", "boot": {"kernel": "/old"}}`,
	}, Config{})
	s.reloadInterval = 20 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	get := func(path string) string {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	fetch := func() string { return get("/ipxe") }
	if b := fetch(); !strings.Contains(b, "/old") {
		t.Fatalf("first answer %q", b)
	}
	// A bad file first: once the watcher has tried it (its failed reload
	// counted in /metrics), the server still answers from the good state.
	writeTree(t, s.cfg.DataDir, map[string]string{"groups/bad.json": "{"})
	failed := `labctl_bootsvc_reloads_total{result="error"} 1` + "\n"
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(get("/metrics"), failed); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no failed reload of groups/bad.json within 5s; /metrics:\n%s", get("/metrics"))
		}
	}
	if b := fetch(); !strings.Contains(b, "/old") {
		t.Fatalf("after a bad file: %q", b)
	}
	os.Remove(filepath.Join(s.cfg.DataDir, "groups/bad.json"))
	writeTree(t, s.cfg.DataDir, map[string]string{"profiles/p.json": `{"id": "p", "boot": {"kernel": "/new"}}`})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(fetch(), "/new") {
		if time.Now().After(deadline) {
			t.Fatal("change not picked up within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestReportAndMachines(t *testing.T) {
	s := newTestServer(t, labData, Config{AssetsDir: t.TempDir()})
	writeTree(t, s.cfg.AssetsDir, map[string]string{"vmlinuz": "kernel bytes"})
	h := s.Handler()
	const ip = "10.0.0.9"
	do := func(method, target, body string) int {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.RemoteAddr = ip + ":1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	steps := []struct {
		method, target, body string
		code                 int
	}{
		{"GET", "/report?event=booted", "", 404}, // nobody known at this IP yet
		{"GET", "/boot.ipxe", "", 200},           // not attributable: no labels, IP unknown
		{"GET", "/ipxe?uuid=0d5a8c0e-0000-4000-8000-000000000001&mac=", "", 200},
		{"GET", "/ipxe?uuid=0d5a8c0e-0000-4000-8000-000000000001&mac=52-54-00-A1-9C-AE&hostname=node1", "", 200},
		{"GET", "/assets/vmlinuz", "", 200},
		{"GET", "/ignition?os=installed", "", 200}, // by IP
		{"GET", "/report", "", 400},                // no event=
		{"POST", "/report?mac=52:54:00:a1:9c:ae&event=installed", "disk /dev/vda written", 204},
		{"GET", "/report?event=ready&detail=etcd+up", "", 204}, // by IP
		{"POST", "/report?mac=52:54:00:a1:9c:ae&event=big", strings.Repeat("x", maxReportBody+1), 413},
	}
	for _, st := range steps {
		if code := do(st.method, st.target, st.body); code != st.code {
			t.Errorf("%s %s: status %d, want %d", st.method, st.target, code, st.code)
		}
	}
	ms := s.Machines()
	if len(ms) != 1 {
		t.Fatalf("machines = %+v, want one (UUID first, then re-keyed by MAC)", ms)
	}
	m := ms[0]
	if m.ID != "52:54:00:a1:9c:ae" || m.UUID != "0d5a8c0e-0000-4000-8000-000000000001" || m.IP != ip || m.Hostname != "node1" ||
		m.Group != "installed" || m.Profile != "disk" || m.Labels["os"] != "installed" {
		t.Errorf("machine = %+v", m)
	}
	var kinds []string
	for _, e := range m.Events {
		kinds = append(kinds, e.Kind+":"+e.Name+":"+e.Detail)
	}
	// Refused reports are kept too, with the reason as detail.
	want := []string{"ipxe::", "ipxe::", "asset::", "ignition::", "report::report has no event= (for example event=booted)",
		"report:installed:disk /dev/vda written", "report:ready:etcd up", "report:big:report body is larger than 65536 bytes"}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Errorf("events = %q, want %q", kinds, want)
	}

	// The JSON face of the same list.
	code, body := get(t, h, "/machines")
	var decoded []map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &decoded) != nil || len(decoded) != 1 {
		t.Fatalf("/machines: %d %s", code, body)
	}
	for _, k := range []string{"id", "mac", "uuid", "hostname", "ip", "labels", "group", "profile", "first_seen", "last_seen", "events"} {
		if _, ok := decoded[0][k]; !ok {
			t.Errorf("/machines entry lacks %q", k)
		}
	}
}

func TestMetrics(t *testing.T) {
	h := newTestServer(t, labData, Config{}).Handler()
	get(t, h, "/ipxe?os=installed")
	get(t, h, "/ignition?role=broken")
	get(t, h, "/ipxe?mac=bad")
	_, body := get(t, h, "/metrics")
	for _, w := range []string{
		`labctl_bootsvc_requests_total{code="200",endpoint="ipxe"} 1`,
		`labctl_bootsvc_requests_total{code="400",endpoint="ipxe"} 1`,
		`labctl_bootsvc_requests_total{code="500",endpoint="ignition"} 1`,
		`labctl_bootsvc_group_matches_total{group="installed"} 1`,
		`labctl_bootsvc_render_errors_total{endpoint="ignition",template="ignition/broken.bu"} 1`,
		`labctl_bootsvc_groups 6`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}
