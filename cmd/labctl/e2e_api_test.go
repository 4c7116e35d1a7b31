package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/labctl/labctl/bootsvc/rpc/rpcpb"
	pb "github.com/labctl/labctl/bootsvc/rpc/serverpb"
	"github.com/labctl/labctl/bootsvc/rpc/storagepb"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/control"
	"github.com/labctl/labctl/lab/netns"
)

// A lab's boot service API, found through `labctl status -o json`, takes a
// profile and a group from a client holding the lab's client certificate,
// and the lab's /ipxe serves them.
func TestE2ELabAPI(t *testing.T) {
	e := newE2E(t, "pxe-smoke")
	ctx, cancel := e2eContext(t)
	defer cancel()
	if out, err := e.run(ctx, "up", "pxe-smoke", "--provider", "qemu", "--netns", e.netns); err != nil {
		t.Fatalf("labctl up: %v\n%s", err, out)
	}
	out, err := e.command(ctx, "status", "pxe-smoke", "-o", "json").Output()
	if err != nil {
		t.Fatalf("labctl status: %v", err)
	}
	var st control.Status
	if err := json.Unmarshal(out, &st); err != nil || st.API == nil {
		t.Fatalf("status names no API: %v\n%s", err, out)
	}

	cert, err := tls.LoadX509KeyPair(st.API.CertFile, st.API.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(st.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := grpc.NewClient(st.API.Endpoint,
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return netns.Dial(ctx, e.netns, "tcp", addr)
		}),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := rpcpb.NewProfilesClient(conn).ProfilePut(ctx, &pb.ProfilePutRequest{Profile: &storagepb.Profile{
		Id: "api", Boot: &storagepb.NetBoot{Kernel: "/assets/api-kernel", Args: []string{"from=api"}}}}); err != nil {
		t.Fatalf("ProfilePut: %v", err)
	}
	if _, err := rpcpb.NewGroupsClient(conn).GroupPut(ctx, &pb.GroupPutRequest{Group: &storagepb.Group{
		Id: "api", Profile: "api", Selector: map[string]string{"mac": "52:54:00:77:00:99"}}}); err != nil {
		t.Fatalf("GroupPut: %v", err)
	}

	client := &http.Client{Transport: &http.Transport{DialContext: netns.Dialer(e.netns)}}
	gateway, _, _ := net.SplitHostPort(st.API.Endpoint) // the boot service shares the gateway
	resp, err := client.Get("http://" + net.JoinHostPort(gateway, strconv.Itoa(lab.BootPort)) + "/ipxe?mac=52-54-00-77-00-99")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "#!ipxe\nkernel /assets/api-kernel from=api\nboot\n"; string(body) != want {
		t.Errorf("lab's /ipxe = %d %q, want %q", resp.StatusCode, body, want)
	}

	// The virtual BMCs' Redfish certificate comes from the same lab CA:
	// status names one CA file, and it verifies the BMC too.
	m := st.Machines[0]
	if m.BMC == nil {
		t.Fatalf("status names no BMC for %s", m.Name)
	}
	pw, err := os.ReadFile(m.BMC.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	rf := &http.Client{Transport: &http.Transport{DialContext: netns.Dialer(e.netns), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.BMC.Redfish, nil)
	req.SetBasicAuth(m.BMC.Username, strings.TrimSpace(string(pw)))
	resp, err = rf.Do(req)
	if err != nil {
		t.Fatalf("Redfish %s verified with the lab CA %s: %v", m.BMC.Redfish, st.CAFile, err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), m.UUID) {
		t.Errorf("Redfish %s = %d %s, want 200 naming %s", m.BMC.Redfish, resp.StatusCode, body, m.UUID)
	}

	if out, err := e.run(ctx, "down", "pxe-smoke"); err != nil {
		t.Fatalf("labctl down: %v\n%s", err, out)
	}
	e.assertNothingLeft(t)
}
