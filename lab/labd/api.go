package labd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/labctl/labctl/bootsvc/rpc"
	"github.com/labctl/labctl/bootsvc/serve"
	"github.com/labctl/labctl/lab"
)

// apiOptions writes the API's TLS files and says where the API serves: on
// the gateway, inside the lab's namespace.
func apiOptions(l *lab.Lab) (*serve.API, error) {
	tf, err := writeAPICerts(l)
	if err != nil {
		return nil, err
	}
	return &serve.API{Address: l.APIAddr(), TLS: tf}, nil
}

// writeAPICerts makes a CA for the lab, a server certificate for the
// gateway address and a client certificate, and writes them into the lab's
// directory (keys 0600).
func writeAPICerts(l *lab.Lab) (rpc.TLSFiles, error) {
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
	if err := writeFile(l.APICAFile(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return rpc.TLSFiles{}, err
	}
	server := certTemplate("labctl boot service API")
	server.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	server.IPAddresses = []net.IP{l.Network.Gateway.AsSlice()}
	client := certTemplate("labctl lab client")
	client.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	for _, leaf := range []struct {
		tmpl              *x509.Certificate
		certFile, keyFile string
	}{
		{server, l.APIServerCertFile(), l.APIServerKeyFile()},
		{client, l.APIClientCertFile(), l.APIClientKeyFile()},
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
	return rpc.TLSFiles{CAFile: l.APICAFile(), CertFile: l.APIServerCertFile(), KeyFile: l.APIServerKeyFile()}, nil
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
