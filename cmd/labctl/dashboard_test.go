package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/lab/pki"
)

// The dashboard refuses to start on an open address without a token, and
// a bad token input, naming the flag; it prints no address it will not serve.
func TestDashboardRefusals(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "0.0.0.0:0"}, "--listen 0.0.0.0:0 is not a loopback address: give --token or --token-file, or client certificates' --ca-file with --cert-file and --key-file"},
		{[]string{"--ca-file", empty}, "--ca-file given without --cert-file and --key-file: the dashboard's TLS needs all three"},
		{[]string{"--cert-file", empty, "--key-file", empty}, "--cert-file and --key-file given without --ca-file"},
		{[]string{"--ca-file", empty, "--cert-file", empty, "--key-file", empty}, "dashboard TLS: certificate " + empty + ", key " + empty},
		{[]string{"--token-file", empty}, "--token-file " + empty + ": empty"},
		{[]string{"--token-file", filepath.Join(dir, "nope")}, "--token-file: open " + filepath.Join(dir, "nope")},
		{[]string{"--token", "a", "--token-file", empty}, "--token and --token-file: give one"},
		{[]string{"--listen", "256.0.0.1:0", "--token", "a"}, "--listen 256.0.0.1:0: "},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newRootCmd()
			var out bytes.Buffer
			cmd.SetArgs(append([]string{"dashboard", "--state-dir", dir}, tc.args...))
			cmd.SetOut(&out)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("labctl dashboard %v: %v, want an error containing %q", tc.args, err, tc.want)
			}
			if out.Len() > 0 {
				t.Errorf("printed %q before refusing", out.String())
			}
		})
	}
}

// labctl dashboard with --ca-file, --cert-file and --key-file serves HTTPS
// on loopback to a client whose certificate the CA signed, and to no other.
func TestDashboardClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreate(dir, "dashboard")
	if err != nil {
		t.Fatal(err)
	}
	var certs []tls.Certificate
	for _, r := range []pki.Request{
		{Name: "server", CommonName: "dashboard", IPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Usages: []pki.Usage{pki.Server}},
		{Name: "operator", CommonName: "operator", Usages: []pki.Usage{pki.Client}},
	} {
		pair, err := ca.Issue(r)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := tls.X509KeyPair(pair.Cert, pair.Key)
		certs = append(certs, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, printed := io.Pipe()
	cmd := newRootCmd()
	cmd.SetArgs([]string{"dashboard", "--state-dir", t.TempDir(), "--listen", "127.0.0.1:0",
		"--ca-file", pki.CAFile(dir), "--cert-file", pki.CertFile(dir, "server"), "--key-file", pki.KeyFile(dir, "server")})
	cmd.SetOut(printed)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); printed.Close() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("labctl dashboard printed %q: %v (%v)", line, err, <-done)
	}
	go io.Copy(io.Discard, out)
	_, url, _ := strings.Cut(strings.TrimSpace(line), ": ")
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("labctl dashboard printed %q, want an https URL on loopback", line)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		want  string
	}{
		{"with its certificate", certs[1:], "labctl labs"},
		{"without", nil, "remote error: tls: certificate required"},
	} {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: tc.certs}}}
		resp, err := client.Get(url)
		got := fmt.Sprint(err)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got = string(body)
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("GET %s %s: %s, want %q", url, tc.name, got, tc.want)
		}
		client.CloseIdleConnections()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("labctl dashboard: %v", err)
	}
}
