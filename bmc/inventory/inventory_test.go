package inventory_test

import (
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/bmc/inventory"
)

const good = `machines:
  - name: node1
    mac: 52:54:00:AA:BB:01
    uuid: 5E2C9B1A-8E61-4A47-9F0E-7D2C9B1A8E61
    bmc:
      - protocol: redfish
        address: https://10.0.0.5
        username: admin
        password_file: secrets/node1
        ca_file: /etc/labctl/bmc-ca.pem
        timeout: 5s
      - protocol: ipmi
        address: 10.0.0.5:623
        username: admin
        password_env: NODE1_BMC_PASSWORD
`

func TestParseGood(t *testing.T) {
	inv, err := inventory.Parse("/etc/labctl/inventory.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	m := inv.Machines[0]
	if m.UUID != "5e2c9b1a-8e61-4a47-9f0e-7d2c9b1a8e61" || m.MAC.String() != "52:54:00:aa:bb:01" {
		t.Errorf("machine %+v", m)
	}
	if m.Address.IsValid() {
		t.Errorf("address %v given none", m.Address)
	}
	withAddr, err := inventory.Parse("inv.yaml", []byte(strings.Replace(good, "    bmc:", "    address: 10.0.0.21\n    bmc:", 1)))
	if err != nil || withAddr.Machines[0].Address.String() != "10.0.0.21" {
		t.Errorf("address: %v, %v", withAddr, err)
	}
	rf, ip := m.BMC[0], m.BMC[1]
	if rf.PasswordFile != "/etc/labctl/secrets/node1" || rf.Auth != bmc.AuthSession || rf.Timeout.Seconds() != 5 || rf.SystemUUID != m.UUID {
		t.Errorf("redfish endpoint %+v", rf)
	}
	if ip.Protocol != bmc.IPMI || ip.PasswordEnv != "NODE1_BMC_PASSWORD" {
		t.Errorf("ipmi endpoint %+v", ip)
	}
}

func TestParseBad(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"password inline", "password_env: NODE1_BMC_PASSWORD", "password: hunter2", "machines[0] (node1).bmc[1].password: passwords do not belong"},
		{"both password sources", "password_env: NODE1_BMC_PASSWORD", "password_env: X\n        password_file: y", "bmc[1].password_env, password_file: give exactly one"},
		{"bad protocol", "protocol: ipmi", "protocol: snmp", "bmc[1].protocol: \"snmp\""},
		{"ipmi without port", "address: 10.0.0.5:623", "address: 10.0.0.5", "bmc[1].address"},
		{"redfish not a URL", "address: https://10.0.0.5", "address: 10.0.0.5", "bmc[0].address"},
		{"bad mac", "mac: 52:54:00:AA:BB:01", "mac: 52:54:00", "machines[0] (node1).mac"},
		{"bad uuid", "uuid: 5E2C9B1A-8E61-4A47-9F0E-7D2C9B1A8E61", "uuid: 1234", "machines[0] (node1).uuid"},
		{"unknown field", "username: admin\n        password_file", "usr: admin\n        password_file", "field usr not found"},
		{"insecure and ca_file", "timeout: 5s", "timeout: 5s\n        insecure: true", "bmc[0].insecure"},
		{"bad timeout", "timeout: 5s", "timeout: soon", "bmc[0].timeout"},
		{"no name", "name: node1", "name: \"\"", "machines[0].name: required"},
		{"address not IPv4", "mac: 52:54:00:AA:BB:01", "mac: 52:54:00:AA:BB:01\n    address: fd00::5", "machines[0] (node1).address: \"fd00::5\" is not an IPv4 address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(good, tc.from, tc.to, 1)
			if src == good {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := inventory.Parse("inv.yaml", []byte(src))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "inv.yaml") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want the file and %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}
