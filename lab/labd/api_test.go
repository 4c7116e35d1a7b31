package labd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/rpc"
	"github.com/labctl/labctl/bootsvc/rpc/rpcpb"
	pb "github.com/labctl/labctl/bootsvc/rpc/serverpb"
	"github.com/labctl/labctl/bootsvc/rpc/storagepb"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
)

// The lab CA's certificates work together: a client holding the lab's
// client certificate writes through an API serving the lab's server
// certificate, both issued by the one lab CA that `labctl up` made.
func TestAPICerts(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	l := &lab.Lab{Dir: dir, Network: lab.Network{Gateway: netip.MustParseAddr("127.0.0.1")}}
	ca, err := pki.LoadOrCreate(l.PKIDir(), "api")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.IssueOwn(l.Network.Gateway); err != nil {
		t.Fatal(err)
	}
	tf := apiTLS(l)
	srv, err := bootsvc.New(bootsvc.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	api, err := rpc.New(srv, tf, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, ln) }()

	cert, err := tls.LoadX509KeyPair(pki.CertFile(l.PKIDir(), pki.APIClient), pki.KeyFile(l.PKIDir(), pki.APIClient))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(pki.CAFile(l.PKIDir()))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = rpcpb.NewProfilesClient(conn).ProfilePut(ctx, &pb.ProfilePutRequest{Profile: &storagepb.Profile{Id: "p", Boot: &storagepb.NetBoot{Kernel: "/k"}}})
	if err != nil {
		t.Fatalf("ProfilePut with the lab's client certificate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "profiles", "p.json")); err != nil {
		t.Error(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
