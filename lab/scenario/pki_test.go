package scenario

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/sshkeys"
)

const certsYAML = validYAML + `kubeconfig: {server: "https://{a.ip}:6443", certificate: admin}
certificates:
  - {name: kubelet, machines: [a, b], cn: "system:node:{machine}", o: [system:nodes], machine_sans: true, usages: [client, server]}
  - {name: admin, cn: admin, o: [system:masters], usages: [client]}
`

func TestCertificatesInvalid(t *testing.T) {
	for _, tc := range []struct{ name, old, new, want string }{
		{"unknown machine", "machines: [a, b]", "machines: [a, c]", `certificates[0].machines: no machine named "c"`},
		{"duplicate name", "name: admin", "name: kubelet", `certificates[1].name: missing or duplicate "kubelet"`},
		{"the lab's own name", "name: admin", "name: labctl-api-client", `certificates[1].name: "labctl-api-client": names beginning "labctl-" are the lab's own services'`},
		{"the CA's name", "name: admin", "name: ca", `certificates[1].name: "ca" is the lab CA's own file`},
		{"no cn", "cn: admin, ", "", "certificates[1].cn: missing (a certificate needs a common name or alternative names)"},
		{"bad usage", "usages: [client]}", "usages: [peer]}", `certificates[1].usages: "peer" is neither client nor server`},
		{"no usage", "usages: [client]}", "}", "certificates[1].usages: missing"},
		{"bad ip", "machine_sans: true,", "ips: [10.9.0.300],", `certificates[0].ips: "10.9.0.300" is not an IP address`},
		{"http server", `"https://{a.ip}:6443"`, `"http://10.9.0.11:6443"`, `kubeconfig.server: "http://10.9.0.11:6443" is not an https:// URL`},
		{"server on no machine", `"https://{a.ip}:6443"`, `"https://{c.ip}:6443"`, `kubeconfig.server: {c.ip}: no machine named "c"`},
		{"machine cert in kubeconfig", "certificate: admin}", "certificate: kubelet}", `kubeconfig.certificate: "kubelet" is not a certificate without machines`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(certsYAML, tc.old) {
				t.Fatalf("test YAML lacks %q", tc.old)
			}
			_, err := load(t, strings.Replace(certsYAML, tc.old, tc.new, 1))
			if err == nil || !strings.Contains(err.Error(), "s/scenario.yaml: "+tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestWriteDataGivesEachMachineOnlyItsOwnCertificates: group a (pinned to
// machine a) receives a's kubelet pair and the CA certificate, nothing of
// b's, no admin pair and no CA key; the kubeconfig holds the admin pair.
func TestWriteDataGivesEachMachineOnlyItsOwnCertificates(t *testing.T) {
	s, err := load(t, certsYAML)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := s.Lab(dir, "ns")
	keys, err := sshkeys.LoadOrCreate(filepath.Join(dir, "ssh"), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), s.Name)
	if err != nil {
		t.Fatal(err)
	}
	tls, err := s.IssueCertificates(ca, l)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "data")
	if err := s.WriteData(dst, l, "http://10.9.0.1:8080", keys, tls); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dst, "groups", "a.json"))
	var g struct {
		Metadata struct {
			Lab struct {
				CACert string `json:"ca_cert"`
			}
			Machine struct {
				TLS map[string]struct{ Cert, Key string }
			}
		}
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if g.Metadata.Lab.CACert != string(ca.CertPEM) {
		t.Error("group a lacks the CA certificate")
	}
	if len(g.Metadata.Machine.TLS) != 1 {
		t.Fatalf("group a has certificates %v, want kubelet only", g.Metadata.Machine.TLS)
	}
	block, _ := pem.Decode([]byte(g.Metadata.Machine.TLS["kubelet"].Cert))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.CommonName != "system:node:a" || cert.IPAddresses[0].String() != "10.9.0.11" {
		t.Fatalf("a's kubelet certificate: %v %v %v", err, cert.Subject, cert.IPAddresses)
	}
	caKey, _ := os.ReadFile(filepath.Join(dir, "pki", "ca.key"))
	bKey, _ := os.ReadFile(filepath.Join(dir, "pki", "kubelet-b.key"))
	adminKey, _ := os.ReadFile(filepath.Join(dir, "pki", "admin.key"))
	for name, key := range map[string][]byte{"CA key": caKey, "b's key": bKey, "admin key": adminKey} {
		if len(key) == 0 || strings.Contains(string(raw), strings.TrimSpace(string(key))) {
			t.Errorf("group a holds the %s (or it is missing)", name)
		}
	}
	d, _ := os.ReadFile(filepath.Join(dst, "groups", "d.json"))
	if strings.Contains(string(d), "PRIVATE KEY") {
		t.Error("the unpinned group d holds a private key")
	}

	// The server is machine a's address as the lab has it: the scenario's,
	// or on a rack the inventory's.
	rack := *l
	rack.Machines = slices.Clone(l.Machines)
	rack.Machines[0].IP = netip.MustParseAddr("10.79.0.11")
	for _, tc := range []struct {
		lab  *lab.Lab
		want string
	}{{l, "server: https://10.9.0.11:6443"}, {&rack, "server: https://10.79.0.11:6443"}} {
		kc := filepath.Join(t.TempDir(), "kubeconfig")
		if err := s.WriteKubeconfig(kc, tls, tc.lab); err != nil {
			t.Fatal(err)
		}
		conf, _ := os.ReadFile(kc)
		for _, want := range []string{tc.want, "client-certificate-data: ", "certificate-authority-data: "} {
			if !strings.Contains(string(conf), want) {
				t.Errorf("kubeconfig lacks %q:\n%s", want, conf)
			}
		}
		if st, _ := os.Stat(kc); st.Mode().Perm() != 0o600 {
			t.Errorf("kubeconfig mode %v, want 0600", st.Mode().Perm())
		}
	}
}
