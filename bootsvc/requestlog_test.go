package bootsvc

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// slogText is the line slog's own text handler prints for l.
func slogText(t testing.TB, l *requestLog) string {
	t.Helper()
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	if err := h.Handle(context.Background(), l.record()); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestRequestLogText holds the hand-formatted request line to slog's text
// handler, byte for byte, over the values that slog quotes or escapes.
func TestRequestLogText(t *testing.T) {
	at := time.Date(2026, 11, 29, 3, 45, 16, 123456789, time.UTC)
	full := reqInfo{
		labels: map[string]string{"mac": "52:54:00:a1:9c:ae", "uuid": "", "hostname": "node1"},
		group:  "node1", profile: "install", name: "booted", err: "no group matches labels {a=b}",
	}
	strs := []string{
		"", "plain", "/ipxe", "a b", "a=b", `a"b`, `a\b`, "tab\there", "nl\n", "del\x7f", "nul\x00",
		"µs", "é", "\u00a0nbsp", "\u200bzero-width", "\u2028line-sep", "bad\xffutf8", "\ufffd", "日本",
	}
	type tc struct {
		name string
		l    requestLog
	}
	cases := []tc{
		{"bare", requestLog{time: at, level: slog.LevelInfo, method: "GET", path: "/ipxe", status: 200, took: 57*time.Microsecond + 300, remote: "127.0.0.1", info: &reqInfo{}}},
		{"full", requestLog{time: at, level: slog.LevelInfo, method: "POST", path: "/report", status: 404, took: 3 * time.Millisecond, remote: "10.0.0.5", info: &full}},
		{"debug, empty labels, zone", requestLog{time: at.In(time.FixedZone("", -(5*3600 + 30*60))), level: slog.LevelDebug, method: "GET", path: "/healthz", status: 200, took: 0, remote: "::1", info: &reqInfo{labels: map[string]string{}}}},
		{"whole second", requestLog{time: at.Truncate(time.Second), level: slog.LevelInfo, method: "GET", path: "/", status: 200, took: time.Hour, remote: "", info: &reqInfo{}}},
	}
	for _, s := range strs {
		cases = append(cases, tc{"value " + s, requestLog{time: at, level: slog.LevelInfo, method: s, path: s, status: 500, took: time.Second, remote: s,
			info: &reqInfo{labels: map[string]string{s: s}, group: s, profile: s, name: s, err: s}}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := slogText(t, &c.l)
			if got := string(c.l.appendText(nil)); got != want {
				t.Errorf("appendText:\n got %q\nwant %q (slog)", got, want)
			}
		})
	}
}

func FuzzRequestLogText(f *testing.F) {
	for _, s := range []string{"", "a b", `x"\`, "\x00\x7f", "bad\xff", "µ\u2028"} {
		f.Add(s, s, s, int64(1234567))
	}
	f.Fuzz(func(t *testing.T, path, label, errText string, ns int64) {
		l := requestLog{time: time.Unix(0, ns), level: slog.LevelInfo, method: "GET", path: path, status: 200, took: time.Duration(ns),
			remote: "127.0.0.1", info: &reqInfo{labels: map[string]string{"k": label, label: "v"}, group: label, profile: path, err: errText}}
		if got, want := string(l.appendText(nil)), slogText(t, &l); got != want {
			t.Errorf("appendText:\n got %q\nwant %q (slog)", got, want)
		}
	})
}

// TestNewLoggerRequestLines serves the same requests with NewLogger and with
// slog's text handler and expects the same log, time and took aside.
func TestNewLoggerRequestLines(t *testing.T) {
	files := map[string]string{
		"groups/node1.json":   `{"id": "node1", "profile": "p", "selector": {"mac": "52:54:00:a1:9c:ae"}}`,
		"profiles/p.json":     `{"id": "p", "boot": {"kernel": "/assets/vmlinuz"}}`,
		"groups/default.json": `{"id": "default", "profile": "none"}`,
	}
	targets := []string{
		"/ipxe?uuid=&mac=52-54-00-a1-9c-ae&domain=&hostname=node1&serial=",
		"/ipxe?mac=zz",                // 400
		"/ipxe?mac=52:54:00:00:00:01", // the default group names a missing profile: 500
		"/report?mac=52:54:00:a1:9c:ae&event=booted%20ok",
		"/healthz", // debug level
		"/nothing", // 404 from the catch-all
	}
	var ours, slogs bytes.Buffer
	servers := []*Server{
		newTestServer(t, files, Config{Logger: NewLogger(&ours, slog.LevelDebug)}),
		newTestServer(t, files, Config{Logger: slogTo(&slogs)}),
	}
	for _, s := range servers {
		for _, target := range targets {
			get(t, s.Handler(), target)
		}
	}
	varying := regexp.MustCompile(`^time=\S+ |took=\S+ `)
	mask := func(log string) []string {
		lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
		for i, l := range lines {
			lines[i] = varying.ReplaceAllString(l, "")
		}
		return lines
	}
	got, want := mask(ours.String()), mask(slogs.String())
	if n := strings.Count(ours.String(), `msg="http request"`); n != len(targets) || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("NewLogger's log:\n%s\nslog's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(got[1], `labels="domain=,hostname=node1,mac=52:54:00:a1:9c:ae,serial=,uuid=" group=node1 profile=p`) {
		t.Errorf("first request line (after the load's warning) lacks the labels and group: %s", got[1])
	}
}

// TestNewLoggerWithAttrs: a logger derived with attributes is slog's own, and
// still prints them on request lines.
func TestNewLoggerWithAttrs(t *testing.T) {
	var buf bytes.Buffer
	s := newTestServer(t, map[string]string{"groups/d.json": `{"id": "d", "profile": "p"}`, "profiles/p.json": `{"id": "p"}`},
		Config{Logger: NewLogger(&buf, slog.LevelInfo).With("lab", "etcd3")})
	req := httptest.NewRequest(http.MethodGet, "/boot.ipxe", nil)
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)
	if line := buf.String(); !strings.Contains(line, `msg="http request" lab=etcd3 method=GET path=/boot.ipxe status=200`) {
		t.Errorf("request line: %q", line)
	}
}
