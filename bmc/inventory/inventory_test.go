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
    address: 10.0.1.11
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

// second is a machine to append to good: its name, MAC, UUID and address
// are its own until a test copies node1's.
const second = `  - name: node2
    mac: 52:54:00:AA:BB:02
    uuid: 5e2c9b1a-8e61-4a47-9f0e-7d2c9b1a8e62
    address: 10.0.1.12
    bmc:
      - protocol: ipmi
        address: 10.0.0.6:623
        username: admin
        password_env: NODE2_BMC_PASSWORD
`

func TestParseGood(t *testing.T) {
	inv, err := inventory.Parse("/etc/labctl/inventory.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	m := inv.Machines[0]
	if m.UUID != "5e2c9b1a-8e61-4a47-9f0e-7d2c9b1a8e61" || m.MAC.String() != "52:54:00:aa:bb:01" || m.Address.String() != "10.0.1.11" {
		t.Errorf("machine %+v", m)
	}
	rf, ip := m.BMC[0], m.BMC[1]
	if rf.PasswordFile != "/etc/labctl/secrets/node1" || rf.Auth != bmc.AuthAuto || rf.Timeout.Seconds() != 5 || rf.SystemUUID != m.UUID {
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
		{"redfish scheme", "address: https://10.0.0.5", "address: ftp://10.0.0.5", `bmc[0].address: "ftp://10.0.0.5": want https://host[:port] (or http://host[:port]`},
		{"bad auth", "timeout: 5s", "timeout: 5s\n        auth: token", `bmc[0].auth: "token": want auto, session or basic`},
		{"bad mac", "mac: 52:54:00:AA:BB:01", "mac: 52:54:00", "machines[0] (node1).mac"},
		{"bad uuid", "uuid: 5E2C9B1A-8E61-4A47-9F0E-7D2C9B1A8E61", "uuid: 1234", "machines[0] (node1).uuid"},
		{"unknown field", "username: admin\n        password_file", "usr: admin\n        password_file", "field usr not found"},
		{"insecure and ca_file", "timeout: 5s", "timeout: 5s\n        insecure: true", "bmc[0].insecure"},
		{"bad timeout", "timeout: 5s", "timeout: soon", "bmc[0].timeout"},
		{"no name", "name: node1", "name: \"\"", "machines[0].name: required"},
		{"no mac", "    mac: 52:54:00:AA:BB:01\n", "", "machines[0] (node1).mac: required"},
		{"empty mac", "mac: 52:54:00:AA:BB:01", "mac: \"\"", "machines[0] (node1).mac: required"},
		{"mac of 8 bytes", "mac: 52:54:00:AA:BB:01", "mac: 02:00:5e:10:00:00:00:01", `machines[0] (node1).mac: "02:00:5e:10:00:00:00:01" is not a MAC address`},
		{"address not an IP", "address: 10.0.1.11", "address: node1.example", `machines[0] (node1).address: "node1.example" is not an IPv4 address`},
		{"address IPv6", "address: 10.0.1.11", "address: fd00::11", `machines[0] (node1).address: "fd00::11" is not an IPv4 address`},
		{"address IPv4-mapped", "address: 10.0.1.11", "address: \"::ffff:10.0.1.11\"", `machines[0] (node1).address: "::ffff:10.0.1.11" is not an IPv4 address`},
		{"address with prefix", "address: 10.0.1.11", "address: 10.0.1.11/24", `machines[0] (node1).address: "10.0.1.11/24" is not an IPv4 address`},
		{"address unspecified", "address: 10.0.1.11", "address: 0.0.0.0", "machines[0] (node1).address: 0.0.0.0 cannot be a machine's address"},
		{"address broadcast", "address: 10.0.1.11", "address: 255.255.255.255", "machines[0] (node1).address: 255.255.255.255 cannot be a machine's address"},
		{"duplicate name", "name: node2", "name: node1", "machines[1] (node1).name: node1 is also machines[0] (node1)'s"},
		{"duplicate mac", "mac: 52:54:00:AA:BB:02", "mac: 52-54-00-aa-bb-01", "machines[1] (node2).mac: 52:54:00:aa:bb:01 is also machines[0] (node1)'s"},
		{"duplicate uuid", "uuid: 5e2c9b1a-8e61-4a47-9f0e-7d2c9b1a8e62", "uuid: 5e2c9b1a-8e61-4a47-9f0e-7d2c9b1a8e61", "machines[1] (node2).uuid: 5e2c9b1a-8e61-4a47-9f0e-7d2c9b1a8e61 is also machines[0] (node1)'s"},
		{"duplicate address", "address: 10.0.1.12", "address: 10.0.1.11", "machines[1] (node2).address: 10.0.1.11 is also machines[0] (node1)'s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(good+second, tc.from, tc.to, 1)
			if src == good+second {
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
