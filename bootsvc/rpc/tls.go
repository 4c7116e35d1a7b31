package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// TLSFiles names a server's mutual-TLS material, all three required: the
// server's certificate and key, and the CA that signs the clients allowed
// in. The API uses it, and so does labctl dashboard off loopback.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// ServerConfig is mutual TLS: TLS 1.2 or later, and a client certificate
// signed by the CA, or no connection.
func (tf TLSFiles) ServerConfig() (*tls.Config, error) {
	for _, f := range []struct{ name, path string }{{"CA file", tf.CAFile}, {"certificate file", tf.CertFile}, {"key file", tf.KeyFile}} {
		if f.path == "" {
			return nil, fmt.Errorf("TLS: no %s given (mutual TLS needs the CA, certificate and key files)", f.name)
		}
	}
	cert, err := tls.LoadX509KeyPair(tf.CertFile, tf.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS: certificate %s, key %s: %w", tf.CertFile, tf.KeyFile, err)
	}
	pool, err := certPool(tf.CAFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("TLS: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("TLS: CA file " + file + " holds no PEM certificate")
	}
	return pool, nil
}

// clientName is the verified client certificate's subject, for the log.
func clientName(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return ""
	}
	return ti.State.VerifiedChains[0][0].Subject.String()
}
