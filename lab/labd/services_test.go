package labd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/labctl/labctl/bootsvc/rpc/rpcpb"
	pb "github.com/labctl/labctl/bootsvc/rpc/serverpb"
	"github.com/labctl/labctl/bootsvc/rpc/storagepb"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/netns"
	"github.com/labctl/labctl/lab/pki"
)

// The lab process's boot service is the assembly labctl serve runs: HTTP
// and the gRPC API on the gateway, inside the lab's namespace, the request
// log in bootsvc.log, a put served at once, a graceful stop.
func TestServeBoot(t *testing.T) {
	testenv.Privileged(t, "creates a network namespace")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := fmt.Sprintf("lt-labd-boot-%08x", rand.Uint32())
	if err := netns.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Delete(context.Background(), ns)
	if out, err := netns.Command(ctx, ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	l := &lab.Lab{Dir: t.TempDir(), Network: lab.Network{Gateway: netip.MustParseAddr("127.0.0.1")}}
	for rel, body := range map[string]string{
		"data/profiles/p.json": `{"id":"p","boot":{"kernel":"/k"}}`,
		"data/groups/a.json":   `{"id":"a","profile":"p","selector":{"mac":"52:54:00:00:00:01"}}`,
		"assets/.keep":         "",
		"tftp/ipxe.efi":        "efi", // as up copies iPXE there
	} {
		os.MkdirAll(filepath.Join(l.Dir, filepath.Dir(rel)), 0o755)
		os.WriteFile(filepath.Join(l.Dir, rel), []byte(body), 0o644)
	}
	// `labctl up` has the lab CA issue the API's certificates before labd starts.
	ca, err := pki.LoadOrCreate(l.PKIDir(), "labd-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.IssueOwn(l.Network.Gateway); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var failed error
	err = netns.Do(ns, func() error {
		return serveBoot(runCtx, &wg, l, slog.New(slog.NewTextHandler(io.Discard, nil)), func(err error) { failed = err })
	})
	if err != nil {
		t.Fatal(err)
	}
	client := netns.HTTPClient(ns, 5*time.Second)
	get := func(path string) int {
		resp, err := client.Get("http://" + l.BootAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/ipxe?mac=52:54:00:00:00:01"); code != http.StatusOK {
		t.Fatalf("/ipxe = %d", code)
	}
	// UEFI HTTP boot's EFI binary comes from the lab's TFTP root.
	if code := get("/efi/52-54-00-00-00-01/ipxe.efi"); code != http.StatusOK {
		t.Fatalf("/efi/52-54-00-00-00-01/ipxe.efi = %d", code)
	}

	cert, err := tls.LoadX509KeyPair(pki.CertFile(l.PKIDir(), pki.APIClient), pki.KeyFile(l.PKIDir(), pki.APIClient))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(pki.CAFile(l.PKIDir()))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := grpc.NewClient(l.APIAddr(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return netns.Dial(ctx, ns, "tcp", addr) }),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := rpcpb.NewGroupsClient(conn).GroupPut(ctx, &pb.GroupPutRequest{Group: &storagepb.Group{Id: "b", Profile: "p", Selector: map[string]string{"mac": "52:54:00:00:00:02"}}}); err != nil {
		t.Fatalf("GroupPut through the lab's API: %v", err)
	}
	if code := get("/ipxe?mac=52:54:00:00:00:02"); code != http.StatusOK {
		t.Errorf("/ipxe after the put = %d, want 200 at once", code)
	}
	stop()
	wg.Wait()
	if failed != nil {
		t.Errorf("the boot service failed: %v", failed)
	}
	logText, _ := os.ReadFile(l.BootsvcLog())
	if !strings.Contains(string(logText), "52:54:00:00:00:02") {
		t.Errorf("bootsvc.log lacks the requests (flushed at stop):\n%s", logText)
	}
	if _, err := client.Get("http://" + l.BootAddr() + "/healthz"); err == nil {
		t.Error("still serving after the lab stopped")
	}
}
