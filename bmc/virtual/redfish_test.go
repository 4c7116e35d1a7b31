package virtual_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bmc/virtual/virtualtest"
	"github.com/labctl/labctl/internal/power"
	"github.com/labctl/labctl/internal/testenv"
)

const testUUID = "8c1f6a3e-1b2d-4e5f-8a9b-0c1d2e3f4a5b"

type redfishBMC struct {
	m      *virtualtest.VM
	sys    *virtual.System
	url    string // https://127.0.0.1:port
	caFile string
	caPEM  []byte
}

func startRedfish(t *testing.T) redfishBMC {
	t.Helper()
	m := virtualtest.NewVM()
	sys := &virtual.System{Name: "node1", UUID: testUUID, Machine: m}
	cert, caPEM, err := virtualtest.NewCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- virtual.ServeRedfish(ctx, ln, cert, []*virtual.System{sys}, testCred) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeRedfish: %v", err)
		}
	})
	return redfishBMC{m: m, sys: sys, url: "https://" + ln.Addr().String(), caFile: caFile, caPEM: caPEM}
}

func (b redfishBMC) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.caPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func TestRedfishRefusesWithoutSession(t *testing.T) {
	b := startRedfish(t)
	c := b.httpClient()
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		setup  func(*http.Request)
		want   int
	}{
		{"root is public", "GET", "/redfish/v1/", "", nil, http.StatusOK},
		{"systems without auth", "GET", "/redfish/v1/Systems", "", nil, http.StatusUnauthorized},
		{"reset without auth", "POST", "/redfish/v1/Systems/" + testUUID + "/Actions/ComputerSystem.Reset", `{"ResetType":"On"}`, nil, http.StatusUnauthorized},
		{"bogus token", "GET", "/redfish/v1/Systems", "", func(r *http.Request) { r.Header.Set("X-Auth-Token", "nope") }, http.StatusUnauthorized},
		{"wrong basic password", "GET", "/redfish/v1/Systems", "", func(r *http.Request) { r.SetBasicAuth(testCred.Username, "wrong") }, http.StatusUnauthorized},
		{"wrong login", "POST", "/redfish/v1/SessionService/Sessions", `{"UserName":"admin","Password":"wrong"}`, nil, http.StatusUnauthorized},
		{"basic auth works", "GET", "/redfish/v1/Systems", "", func(r *http.Request) { r.SetBasicAuth(testCred.Username, testCred.Password) }, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, b.url+tc.path, strings.NewReader(tc.body))
			if tc.setup != nil {
				tc.setup(req)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if st, _ := b.m.PowerState(context.Background()); st != power.Off {
		t.Errorf("machine powered %s by refused requests", st)
	}
}

func TestRedfishtoolDrivesMachine(t *testing.T) {
	testenv.Tool(t, "redfishtool", "redfishtool")
	b := startRedfish(t)
	host := strings.TrimPrefix(b.url, "https://")
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		full := append([]string{"-r", host, "-u", testCred.Username, "-p", testCred.Password, "-A", "Session", "-S", "Always", "Systems", "-I", testUUID}, args...)
		out, err := exec.Command("redfishtool", full...).CombinedOutput()
		if err != nil {
			t.Fatalf("redfishtool %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	t.Run("reset On", func(t *testing.T) {
		run(t, "reset", "On")
		if st, _ := b.m.PowerState(context.Background()); st != power.On {
			t.Errorf("machine is %s", st)
		}
	})
	t.Run("setBootOverride Once Pxe", func(t *testing.T) {
		run(t, "setBootOverride", "Once", "Pxe")
		if d, once := b.m.NextBoot(); d != power.BootNetwork || !once {
			t.Errorf("next boot %s once=%v", d, once)
		}
	})
	t.Run("get shows override", func(t *testing.T) {
		out := run(t, "get")
		for _, want := range []string{`"BootSourceOverrideTarget": "Pxe"`, `"BootSourceOverrideEnabled": "Once"`, `"PowerState": "On"`} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %s in\n%s", want, out)
			}
		}
	})
	t.Run("reset ForceRestart boots pxe once", func(t *testing.T) {
		run(t, "reset", "ForceRestart")
		boots := b.m.Boots()
		if len(boots) != 2 || boots[1] != power.BootNetwork {
			t.Errorf("boots %v, want [disk network]", boots)
		}
		if o := b.sys.Override(); o.Device != "" {
			t.Errorf("override %+v still set after the once boot", o)
		}
	})
	t.Run("setBootOverride Continuous Pxe", func(t *testing.T) {
		run(t, "setBootOverride", "Continuous", "Pxe")
		if d, once := b.m.NextBoot(); d != power.BootNetwork || once {
			t.Errorf("next boot %s once=%v", d, once)
		}
	})
	t.Run("reset ForceOff", func(t *testing.T) {
		run(t, "reset", "ForceOff")
		if st, _ := b.m.PowerState(context.Background()); st != power.Off {
			t.Errorf("machine is %s", st)
		}
	})
}

const sushyScript = `
import os, sys, sushy
from sushy import auth
s = sushy.Sushy(os.environ["BMC_URL"] + "/redfish/v1",
                auth=auth.SessionAuth(os.environ["BMC_USER"], os.environ["BMC_PASS"]),
                verify=os.environ["BMC_CA"])
system = s.get_system("/redfish/v1/Systems/" + os.environ["BMC_UUID"])
op = sys.argv[1]
if op == "pxe-once-uefi":
    system.set_system_boot_options(sushy.BOOT_SOURCE_TARGET_PXE,
        enabled=sushy.BOOT_SOURCE_ENABLED_ONCE, mode=sushy.BOOT_SOURCE_MODE_UEFI)
elif op == "disk-persistent":
    system.set_system_boot_options(sushy.BOOT_SOURCE_TARGET_HDD,
        enabled=sushy.BOOT_SOURCE_ENABLED_CONTINUOUS)
elif op == "on":
    system.reset_system(sushy.RESET_ON)
elif op == "force-restart":
    system.reset_system(sushy.RESET_FORCE_RESTART)
elif op == "off":
    system.reset_system(sushy.RESET_FORCE_OFF)
system.refresh()
print("power=%s target=%s enabled=%s mode=%s" % (system.power_state.value, system.boot.target.value, system.boot.enabled.value, system.boot.mode.value))
`

func TestSushyDrivesMachine(t *testing.T) {
	py := "/usr/bin/python3"
	testenv.PythonModule(t, py, "sushy", "python3-sushy")
	b := startRedfish(t)
	script := filepath.Join(t.TempDir(), "sushy_drive.py")
	os.WriteFile(script, []byte(sushyScript), 0o644)
	steps := []struct {
		op    string
		check func(t *testing.T, out string)
	}{
		{"on", func(t *testing.T, out string) {
			if st, _ := b.m.PowerState(context.Background()); st != power.On {
				t.Errorf("machine is %s", st)
			}
		}},
		{"pxe-once-uefi", func(t *testing.T, out string) {
			if d, once := b.m.NextBoot(); d != power.BootNetwork || !once {
				t.Errorf("next boot %s once=%v", d, once)
			}
			if !strings.Contains(out, "target=Pxe enabled=Once mode=UEFI") {
				t.Errorf("sushy sees %s", out)
			}
		}},
		{"force-restart", func(t *testing.T, out string) {
			boots := b.m.Boots()
			if len(boots) != 2 || boots[1] != power.BootNetwork {
				t.Errorf("boots %v, want [disk network]", boots)
			}
			if !strings.Contains(out, "enabled=Disabled mode=UEFI") {
				t.Errorf("once override still shown after the boot: %s", out)
			}
		}},
		{"disk-persistent", func(t *testing.T, out string) {
			if d, once := b.m.NextBoot(); d != power.BootDisk || once {
				t.Errorf("next boot %s once=%v", d, once)
			}
		}},
		{"off", func(t *testing.T, out string) {
			if st, _ := b.m.PowerState(context.Background()); st != power.Off {
				t.Errorf("machine is %s", st)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.op, func(t *testing.T) {
			cmd := exec.Command(py, script, s.op)
			cmd.Env = append(envWithout("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"), "BMC_URL="+b.url, "BMC_USER="+testCred.Username,
				"BMC_PASS="+testCred.Password, "BMC_CA="+b.caFile, "BMC_UUID="+testUUID)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("sushy %s: %v\n%s", s.op, err, out)
			}
			s.check(t, string(out))
		})
	}
}

// envWithout is the environment less names: requests lets REQUESTS_CA_BUNDLE
// override the CA file a program passes, so it must not be set.
func envWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	return env
}
