package labd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/rpc"
	"github.com/labctl/labctl/lab"
)

// APIPort is where the boot service's gRPC API (matchbox's, mutual TLS)
// listens on the lab gateway: matchbox's customary port.
const APIPort = 8081

// The API's TLS files under the lab's directory: a CA made for the lab, the
// server's certificate and key, and one client certificate and key for the
// user's bootcmd or terraform.
func APICAFile(dir string) string         { return filepath.Join(dir, "api-ca.pem") }
func APIServerCertFile(dir string) string { return filepath.Join(dir, "api-server.pem") }
func APIServerKeyFile(dir string) string  { return filepath.Join(dir, "api-server-key.pem") }
func APIClientCertFile(dir string) string { return filepath.Join(dir, "api-client.pem") }
func APIClientKeyFile(dir string) string  { return filepath.Join(dir, "api-client-key.pem") }
func APIAddr(l *lab.Lab) string {
	return netip.AddrPortFrom(l.Network.Gateway, APIPort).String()
}

// startAPI writes the API's TLS files and serves the gRPC API for srv on
// the gateway until ctx ends. It must run inside the lab's namespace.
func startAPI(ctx context.Context, wg *sync.WaitGroup, dir string, l *lab.Lab, srv *bootsvc.Server, log *slog.Logger, fail func(error)) error {
	tf, err := writeAPICerts(dir, l.Network.Gateway)
	if err != nil {
		return err
	}
	api, err := rpc.New(srv, tf, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", APIAddr(l))
	if err != nil {
		return fmt.Errorf("boot service API: %w", err)
	}
	wg.Go(func() {
		if err := api.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			fail(err)
		}
	})
	return nil
}

// writeAPICerts makes a CA for the lab, a server certificate for the
// gateway address and a client certificate, and writes them into dir
// (keys 0600).
func writeAPICerts(dir string, gateway netip.Addr) (rpc.TLSFiles, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return rpc.TLSFiles{}, fmt.Errorf("API CA key: %w", err)
	}
	caTmpl := certTemplate("labctl boot service API CA")
	caTmpl.IsCA, caTmpl.BasicConstraintsValid, caTmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return rpc.TLSFiles{}, fmt.Errorf("API CA: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := writeFile(APICAFile(dir), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return rpc.TLSFiles{}, err
	}
	server := certTemplate("labctl boot service API")
	server.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	server.IPAddresses = []net.IP{gateway.AsSlice()}
	client := certTemplate("labctl lab client")
	client.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	for _, leaf := range []struct {
		tmpl              *x509.Certificate
		certFile, keyFile string
	}{
		{server, APIServerCertFile(dir), APIServerKeyFile(dir)},
		{client, APIClientCertFile(dir), APIClientKeyFile(dir)},
	} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return rpc.TLSFiles{}, fmt.Errorf("API key: %w", err)
		}
		der, err := x509.CreateCertificate(rand.Reader, leaf.tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return rpc.TLSFiles{}, fmt.Errorf("API certificate %s: %w", leaf.tmpl.Subject.CommonName, err)
		}
		keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
		if err := writeFile(leaf.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			return rpc.TLSFiles{}, err
		}
		if err := writeFile(leaf.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			return rpc.TLSFiles{}, err
		}
	}
	return rpc.TLSFiles{CAFile: APICAFile(dir), CertFile: APIServerCertFile(dir), KeyFile: APIServerKeyFile(dir)}, nil
}

func certTemplate(cn string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}
