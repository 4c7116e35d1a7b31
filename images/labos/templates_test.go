package labos_test

import (
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	butane "github.com/coreos/butane/config"
	"github.com/coreos/butane/config/common"
	"github.com/coreos/ignition/v2/config/v3_3"
	"github.com/coreos/ignition/v2/config/v3_3/types"

	"github.com/labctl/labctl/images/fcos"
	"github.com/labctl/labctl/images/flatcar"
	"github.com/labctl/labctl/images/labos"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/scenario"
	"github.com/labctl/labctl/lab/sshkeys"
)

// TestScenarioTemplates renders the Butane template of every group of every
// scenario that boots labos, with the metadata labctl injects, translates it
// with Butane and validates it as the Ignition spec (3.3) Debian's Ignition
// accepts, then checks what each machine would receive.
func TestScenarioTemplates(t *testing.T) {
	n := 0
	for _, name := range scenario.Names() {
		s, err := scenario.Find(name)
		if err != nil {
			t.Fatal(err)
		}
		// The online scenarios name labos only for the etcd their Flatcar
		// or Fedora CoreOS machines run from its root; scenarios/ checks them.
		uses := func(name string) bool { return slices.Contains(s.ImageNames(), name) }
		if !slices.ContainsFunc(s.ImageNames(), func(n string) bool { return strings.HasPrefix(n, labos.Name) }) || uses(flatcar.Name) || uses(fcos.Name) {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l := s.Lab(dir, "test")
			sec := sampleSecrets(t, s)
			data := filepath.Join(dir, "data")
			bootURL := "http://" + s.Network.Gateway + ":8080"
			var tls *scenario.TLS
			if len(s.Certificates) > 0 {
				ca, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), s.Name)
				if err != nil {
					t.Fatal(err)
				}
				if tls, err = s.IssueCertificates(ca, l); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.WriteData(data, l, bootURL, sec, tls); err != nil {
				t.Fatal(err)
			}
			groups, _ := filepath.Glob(filepath.Join(data, "groups", "*.json"))
			if len(groups) == 0 {
				t.Fatal("no groups")
			}
			for _, g := range groups {
				t.Run(strings.TrimSuffix(filepath.Base(g), ".json"), func(t *testing.T) {
					checkGroup(t, data, g, s, sec)
				})
			}
		})
	}
	if n < 3 {
		t.Fatalf("found %d scenarios booting labos, want at least etcd3, etcd3-install and etcd-large", n)
	}
}

type group struct {
	Profile  string            `json:"profile"`
	Selector map[string]string `json:"selector"`
	Metadata map[string]any    `json:"metadata"`
}

type profile struct {
	Boot *struct {
		Kernel string   `json:"kernel"`
		Initrd []string `json:"initrd"`
		Args   []string `json:"args"`
	} `json:"boot"`
	IgnitionID string `json:"ignition_id"`
}

// secureBoot says whether the machine g selects boots with Secure Boot.
func secureBoot(s *scenario.Scenario, g group) bool {
	for _, m := range s.Machines {
		if strings.EqualFold(m.MAC, g.Selector["mac"]) {
			return m.SecureBoot
		}
	}
	return false
}

func checkGroup(t *testing.T, data, file string, s *scenario.Scenario, sec *sshkeys.Keys) {
	var g group
	readJSON(t, file, &g)
	var p profile
	readJSON(t, filepath.Join(data, "profiles", g.Profile+".json"), &p)
	if p.Boot != nil {
		args := strings.Join(p.Boot.Args, " ")
		// iPXE has no ${next-server} over IPv6: an IPv6-only lab's profile
		// names the boot service by the gateway's IPv6 address.
		server := "${next-server}"
		if strings.Contains(args, "ip=auto6") {
			server = "[" + netip.MustParsePrefix(s.Network.Subnet6).Addr().Next().String() + "]"
		}
		wants := []string{"initrd=initrd.img", "console=ttyS0", "ignition.firstboot", "ignition.platform.id=metal",
			"root=live:http://" + server + ":8080/assets/" + s.Images[0].Name + "/" + labos.Rootfs,
			"ignition.config.url=http://" + server + ":8080/ignition?uuid=${uuid}&mac=${mac:hexhyp}"}
		if secureBoot(s, g) {
			// GRUB starts it (the signed chain): GRUB's variables, which
			// have no UUID, the URL quoted for GRUB's parser, no initrd=.
			wants = []string{"console=ttyS0", "ignition.firstboot", "ignition.platform.id=metal",
				"root=live:http://${net_default_server}:8080/assets/" + s.Images[0].Name + "/" + labos.Rootfs,
				`"ignition.config.url=http://${net_default_server}:8080/ignition?mac=${net_default_mac}"`}
		}
		for _, want := range wants {
			if !strings.Contains(args, want) {
				t.Errorf("profile %s: args lack %q", g.Profile, want)
			}
		}
		assets := "/assets/" + s.Images[0].Name + "/"
		if p.Boot.Kernel != assets+labos.Kernel || !slices.Equal(p.Boot.Initrd, []string{assets + labos.Initrd}) {
			t.Errorf("profile %s: kernel %s initrd %v, want labos's", g.Profile, p.Boot.Kernel, p.Boot.Initrd)
		}
	}
	if p.IgnitionID == "" {
		t.Fatalf("profile %s: no ignition_id", g.Profile)
	}
	cfg := render(t, filepath.Join(data, "ignition", p.IgnitionID), g)

	users := cfg.Passwd.Users
	if len(users) != 1 || users[0].Name != "root" || len(users[0].SSHAuthorizedKeys) != 1 || string(users[0].SSHAuthorizedKeys[0]) != sec.AuthorizedKey {
		t.Errorf("passwd.users = %+v, want root with the lab's key", users)
	}
	m, _ := g.Metadata["machine"].(map[string]any)
	switch p.IgnitionID {
	case "install.yaml":
		if !unitEnabled(cfg, "labos-install.service") {
			t.Error("labos-install.service is not enabled")
		}
	case "etcd-member.yaml", "etcd-proxy.yaml":
		if m == nil {
			t.Fatal("group pins no machine (mac or uuid selector), so it has no .machine metadata")
		}
		name, ip := m["name"].(string), m["ip"].(string)
		if got := fileContents(t, cfg, "/etc/hostname"); got != name {
			t.Errorf("/etc/hostname = %q, want %q", got, name)
		}
		if got := fileContents(t, cfg, "/etc/ssh/ssh_host_ed25519_key"); got != sec.Hosts[name].Private {
			t.Errorf("host key is not %s's", name)
		}
		var peers, clients []string
		for _, member := range []string{"node1", "node2", "node3"} {
			mip := machineIP(s, member)
			peers = append(peers, member+"=https://"+net.JoinHostPort(mip, "2380"))
			clients = append(clients, net.JoinHostPort(mip, "2379"))
		}
		checkEtcdCertificate(t, cfg, name, ip)
		// Checks and users run etcdctl in SSH commands: sshd's pam_env
		// gives them these.
		if env := fileContents(t, cfg, "/etc/environment"); !strings.Contains(env, "ETCDCTL_ENDPOINTS=https://127.0.0.1:2379\nETCDCTL_CACERT=/etc/etcd/pki/ca.crt\nETCDCTL_CERT=/etc/etcd/pki/etcd.crt\n") {
			t.Errorf("/etc/environment does not point etcdctl at the local member with its certificate:\n%s", env)
		}
		if p.IgnitionID == "etcd-member.yaml" {
			env := fileContents(t, cfg, "/etc/default/etcd")
			for _, want := range []string{"ETCD_NAME=" + name + "\n", "ETCD_INITIAL_CLUSTER=" + strings.Join(peers, ",") + "\n",
				"ETCD_LISTEN_PEER_URLS=https://" + net.JoinHostPort(ip, "2380") + "\n", "ETCD_ADVERTISE_CLIENT_URLS=https://" + net.JoinHostPort(ip, "2379") + "\n",
				"ETCD_CLIENT_CERT_AUTH=true\n", "ETCD_PEER_CLIENT_CERT_AUTH=true\n"} {
				if !strings.Contains(env, want) {
					t.Errorf("/etc/default/etcd lacks %q:\n%s", want, env)
				}
			}
			if !unitEnabled(cfg, "etcd.service") {
				t.Error("etcd.service is not enabled")
			}
			endpoints := "LABOS_ETCD_ENDPOINTS=https://" + strings.Join(clients, ",https://") + "\n"
			if !strings.Contains(env, endpoints) {
				t.Errorf("/etc/default/etcd lacks %q:\n%s", endpoints, env)
			}
			if !dropinHas(cfg, "etcd.service", "ExecStartPre=/usr/local/sbin/labos-etcd-join") {
				t.Error("etcd.service has no labos-etcd-join drop-in: a reprovisioned member could not rejoin")
			}
		} else {
			unit := unitContents(cfg, "etcd-grpc-proxy.service")
			if !strings.Contains(unit, "--endpoints="+strings.Join(clients, ",")) {
				t.Errorf("etcd-grpc-proxy.service does not point at the members:\n%s", unit)
			}
		}
	case "k8s-control-plane.yaml", "k8s-worker.yaml":
		checkKubernetesNode(t, cfg, s, m, p.IgnitionID == "k8s-worker.yaml")
	default:
		t.Fatalf("template %s: this test does not know what it should contain", p.IgnitionID)
	}
}

// checkEtcdCertificate checks that an etcd machine receives the lab CA and
// one certificate of its own, signed by that CA for its address and name,
// for both client and server use, and no other key.
func checkEtcdCertificate(t *testing.T, cfg types.Config, name, ip string) {
	var keys []string
	for _, f := range cfg.Storage.Files {
		if strings.HasSuffix(f.Path, ".key") && !strings.HasPrefix(f.Path, "/etc/ssh/") {
			keys = append(keys, f.Path)
		}
	}
	if !slices.Equal(keys, []string{"/etc/etcd/pki/etcd.key"}) {
		t.Errorf("%s receives keys %v, want only /etc/etcd/pki/etcd.key", name, keys)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(fileContents(t, cfg, "/etc/etcd/pki/ca.crt"))) {
		t.Fatal("/etc/etcd/pki/ca.crt holds no certificate")
	}
	block, _ := pem.Decode([]byte(fileContents(t, cfg, "/etc/etcd/pki/etcd.crt")))
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{ip, name, "127.0.0.1"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := c.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s's etcd certificate for %s (usage %v): %v", name, host, usage, err)
			}
		}
	}
}

// checkKubernetesNode checks that a Kubernetes machine receives exactly the
// certificates the scenario issues to it (a worker's kubelet certificate
// names that worker), never a CA key, and its units.
func checkKubernetesNode(t *testing.T, cfg types.Config, s *scenario.Scenario, m map[string]any, worker bool) {
	name := m["name"].(string)
	var want []string
	for _, c := range s.Certificates {
		if slices.Contains(c.Machines, name) {
			want = append(want, "/etc/kubernetes/pki/"+c.Name+".crt", "/etc/kubernetes/pki/"+c.Name+".key")
		}
	}
	var got []string
	for _, f := range cfg.Storage.Files {
		if strings.HasPrefix(f.Path, "/etc/kubernetes/pki/") && f.Path != "/etc/kubernetes/pki/ca.crt" {
			got = append(got, f.Path)
		}
		if strings.Contains(f.Path, "ca.key") {
			t.Errorf("%s receives %s: the CA key never leaves the host", name, f.Path)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s receives certificates %v, want %v", name, got, want)
	}
	units := []string{"etcd.service", "kube-apiserver.service", "kube-controller-manager.service", "kube-scheduler.service"}
	if worker {
		units = []string{"containerd.service", "labos-k8s-images.service", "kubelet.service", "kube-proxy.service"}
		cert := fileContents(t, cfg, "/etc/kubernetes/pki/kubelet.crt")
		block, _ := pem.Decode([]byte(cert))
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject.CommonName != "system:node:"+name || !slices.Equal(c.Subject.Organization, []string{"system:nodes"}) {
			t.Errorf("%s's kubelet certificate is %v, want CN=system:node:%s, O=system:nodes", name, c.Subject, name)
		}
		if !strings.Contains(unitContents(cfg, "kubelet.service"), "--node-ip="+m["ip"].(string)) {
			t.Errorf("kubelet.service of %s lacks --node-ip", name)
		}
	}
	for _, u := range units {
		if !unitEnabled(cfg, u) {
			t.Errorf("%s: %s is not enabled", name, u)
		}
	}
}

// render does what the boot service does for /ignition (matchbox's rules):
// group metadata at the top level, selectors (lower-cased keys) over it,
// missing keys are errors; then Butane, then Ignition 3.3 validation.
func render(t *testing.T, file string, g group) types.Config {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.New(filepath.Base(file)).Option("missingkey=error").Parse(string(src))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	vars := map[string]any{}
	for k, v := range g.Metadata {
		vars[k] = v
	}
	q := url.Values{}
	for k, v := range g.Selector {
		vars[strings.ToLower(k)] = v
		q.Set(k, v)
	}
	vars["request"] = map[string]any{"query": g.Selector, "raw_query": q.Encode()}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, vars); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	ign, rep, err := butane.TranslateBytes(buf.Bytes(), common.TranslateBytesOptions{Raw: true, TranslateOptions: common.TranslateOptions{}})
	if err != nil || len(rep.Entries) > 0 {
		t.Fatalf("%s: butane: %v %s\n%s", file, err, rep.String(), buf.String())
	}
	cfg, rep, err := v3_3.Parse(ign)
	if err != nil || len(rep.Entries) > 0 {
		t.Fatalf("%s: ignition 3.3: %v %s", file, err, rep.String())
	}
	if cfg.Ignition.Version != "3.3.0" {
		t.Fatalf("%s: Ignition version %s, want 3.3.0 (Debian's Ignition 2.14 refuses newer)", file, cfg.Ignition.Version)
	}
	return cfg
}

func fileContents(t *testing.T, cfg types.Config, path string) string {
	t.Helper()
	for _, f := range cfg.Storage.Files {
		if f.Path != path {
			continue
		}
		src := *f.Contents.Source
		comma := strings.IndexByte(src, ',')
		if !strings.HasPrefix(src, "data:") || comma < 0 {
			t.Fatalf("%s: source %.40q is not a data URL", path, src)
		}
		var raw []byte
		var err error
		if strings.HasSuffix(src[:comma], ";base64") {
			raw, err = base64.StdEncoding.DecodeString(src[comma+1:])
		} else {
			var s string
			s, err = url.PathUnescape(src[comma+1:])
			raw = []byte(s)
		}
		if err == nil && f.Contents.Compression != nil && *f.Contents.Compression == "gzip" {
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(bytes.NewReader(raw)); err == nil {
				raw, err = io.ReadAll(zr)
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return string(raw)
	}
	t.Fatalf("no file %s in the config", path)
	return ""
}

func unitEnabled(cfg types.Config, name string) bool {
	for _, u := range cfg.Systemd.Units {
		if u.Name == name && u.Enabled != nil && *u.Enabled {
			return true
		}
	}
	return false
}

func unitContents(cfg types.Config, name string) string {
	for _, u := range cfg.Systemd.Units {
		if u.Name == name && u.Contents != nil {
			return *u.Contents
		}
	}
	return ""
}

func machineIP(s *scenario.Scenario, name string) string {
	for _, m := range s.Machines {
		if m.Name == name {
			return m.IP
		}
	}
	return ""
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// sampleSecrets makes real keys, as labctl does for every lab.
func sampleSecrets(t *testing.T, s *scenario.Scenario) *sshkeys.Keys {
	t.Helper()
	var names []string
	for _, m := range s.Machines {
		names = append(names, m.Name)
	}
	keys, err := sshkeys.LoadOrCreate(t.TempDir(), names)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// dropinHas says whether a drop-in of unit contains line.
func dropinHas(cfg types.Config, unit, line string) bool {
	for _, u := range cfg.Systemd.Units {
		if u.Name != unit {
			continue
		}
		for _, d := range u.Dropins {
			if d.Contents != nil && strings.Contains(*d.Contents, line) {
				return true
			}
		}
	}
	return false
}
