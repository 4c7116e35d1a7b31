package bootsvc

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAssets(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret": "outside the root"})
	s := newTestServer(t, labData, Config{AssetsDir: t.TempDir()})
	writeTree(t, s.cfg.AssetsDir, map[string]string{"img/vmlinuz": "0123456789abcdef", "ok-link-target": "inside"})
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(s.cfg.AssetsDir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok-link-target", filepath.Join(s.cfg.AssetsDir, "inside-link")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	tests := []struct {
		name, path, rng string
		code            int
		body            string
	}{
		{name: "whole file", path: "/assets/img/vmlinuz", code: 200, body: "0123456789abcdef"},
		{name: "range", path: "/assets/img/vmlinuz", rng: "bytes=4-7", code: 206, body: "4567"},
		{name: "suffix range", path: "/assets/img/vmlinuz", rng: "bytes=-3", code: 206, body: "def"},
		{name: "unsatisfiable range", path: "/assets/img/vmlinuz", rng: "bytes=100-", code: 416},
		{name: "symlink inside the root", path: "/assets/inside-link", code: 200, body: "inside"},
		{name: "symlink out of the root", path: "/assets/escape", code: 404},
		{name: "missing", path: "/assets/nope", code: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d (%q)", resp.StatusCode, tt.code, body)
			}
			if tt.body != "" && string(body) != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if strings.Contains(string(body), "outside the root") {
				t.Error("served a file outside the assets root")
			}
		})
	}

	// Raw request lines, as a hostile client sends them: no client-side
	// path cleaning.
	for _, p := range []string{"/assets/../../" + filepath.Base(outside) + "/secret", "/assets/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2fetc/passwd"} {
		t.Run("raw "+p, func(t *testing.T) {
			c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == 200 || strings.Contains(string(body), "root:") || strings.Contains(string(body), "outside the root") {
				t.Errorf("%s: status %d body %q", p, resp.StatusCode, body)
			}
		})
	}
}
