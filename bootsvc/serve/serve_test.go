package serve

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The assembly serves, reloads on SIGHUP, logs requests through the
// batched writer and stops when its context ends, flushing that log.
func TestServeReloadAndStop(t *testing.T) {
	dir := t.TempDir()
	for rel, body := range map[string]string{
		"profiles/p.json": `{"id":"p","boot":{"kernel":"/k"}}`,
		"groups/a.json":   `{"id":"a","profile":"p","selector":{"mac":"52:54:00:00:00:01"}}`,
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755)
		os.WriteFile(filepath.Join(dir, rel), []byte(body), 0o644)
	}
	var events, requests testenv.Buffer
	o := Options{Address: "127.0.0.1:0", RequestLog: &requests, Log: slog.New(slog.NewTextHandler(&events, nil))}
	if _, err := Start(o); err == nil || !strings.Contains(err.Error(), "no data directory") {
		t.Fatalf("Start without data = %v, want refused", err)
	}
	o.Boot.DataDir = dir
	svc, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	url := "http://" + svc.Addr().String()
	get := func(path string) int {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/ipxe?mac=52:54:00:00:00:02"); code != http.StatusNotFound {
		t.Fatalf("/ipxe for an unknown machine = %d", code)
	}
	os.WriteFile(filepath.Join(dir, "groups/b.json"), []byte(`{"id":"b","profile":"p","selector":{"mac":"52:54:00:00:00:02"}}`), 0o644)
	waitFor(t, "the SIGHUP handler", func() bool { return strings.Contains(events.String(), "boot service listening") })
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "reload on SIGHUP", func() bool { return strings.Contains(events.String(), "reloaded data directory on SIGHUP") })
	if code := get("/ipxe?mac=52:54:00:00:00:02"); code != http.StatusOK {
		t.Fatalf("/ipxe after SIGHUP = %d, want 200", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
	if !strings.Contains(requests.String(), "52:54:00:00:00:02") {
		t.Errorf("request log not flushed at stop: %q", requests.String())
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("still answering after stop")
	}
}
