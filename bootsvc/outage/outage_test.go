package outage

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

// The service fails on purpose while its outage is set, for every client
// but those it exempts, and serves again once cleared; the outage API
// sets and clears it over a Unix socket and refuses what is no outage.
func TestOutage(t *testing.T) {
	o := &Switch{}
	srv := httptest.NewServer(o.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })))
	defer srv.Close()
	status := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After") + " " + string(body)
	}
	if code, _ := status(); code != 200 {
		t.Fatalf("no outage: %d", code)
	}

	sock := filepath.Join(t.TempDir(), "boot-faults.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	api := &http.Server{Handler: Handler(o)}
	go api.Serve(ln)
	defer api.Close()
	c := Client{Socket: sock}
	ctx := context.Background()

	if st, err := c.Set(ctx, 503); err != nil || st.Status != 503 {
		t.Fatalf("set 503: %+v, %v", st, err)
	}
	if code, body := status(); code != 503 || !strings.HasPrefix(body, "5 ") || !strings.Contains(body, "failing on purpose") {
		t.Errorf("under a 503 outage: %d %q", code, body)
	}
	o.Exempt = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	if code, _ := status(); code != 200 {
		t.Errorf("an exempt client under an outage: %d, want 200", code)
	}
	o.Exempt = nil
	if _, err := c.Set(ctx, 404); err == nil || !strings.Contains(err.Error(), "400 Bad Request: outage status 404: want a server error, 500 to 599") {
		t.Errorf("set 404: %v", err)
	}
	if code, _ := status(); code != 503 {
		t.Errorf("a refused 404 changed the outage: %d, want 503 still", code)
	}
	if st, err := c.Clear(ctx); err != nil || st.Status != 0 {
		t.Fatalf("clear: %+v, %v", st, err)
	}
	if code, _ := status(); code != 200 {
		t.Errorf("cleared: %d", code)
	}
	if _, err := (Client{Socket: filepath.Join(t.TempDir(), "none.sock")}).Clear(ctx); err == nil || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("clear with no lab process: %v, want the socket named", err)
	}
}
