package pki

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"time"
)

// SelfSignedRSA opens the self-signed RSA server certificate NAME.crt (key
// NAME.key) in dir, making it for ips on first use. It is for clients that
// verify no ECDSA, as the lab CA's certificates are: UEFI HTTPS boot in
// Debian's OVMF, whose OpenSSL is built without elliptic curves. The client
// trusts the certificate itself (it is its own CA), so nothing else the
// lab CA signs is trusted by it.
func SelfSignedRSA(dir, name string, ips []netip.Addr) (KeyPair, error) {
	if !nameRE.MatchString(name) {
		return KeyPair{}, fmt.Errorf("certificate name %q: want lower-case letters, digits, '.', '_' or '-'", name)
	}
	certFile, keyFile := CertFile(dir, name), KeyFile(dir, name)
	p, err := readPair(certFile, keyFile)
	if err == nil {
		if _, _, err := parse(p); err != nil {
			return KeyPair{}, fmt.Errorf("%s: %w", certFile, err)
		}
		return p, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return KeyPair{}, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return KeyPair{}, fmt.Errorf("%s: generate key: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(Validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("%s: sign: %w", name, err)
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return KeyPair{}, err
	}
	return readPair(certFile, keyFile)
}
