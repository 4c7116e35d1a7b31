package scenario

import (
	"strings"
	"testing"
	"time"
)

const stepsYAML = validYAML + `steps:
  - name: cut
    fault: {kind: partition, machines: [b]}
    during:
      - {name: a-writes, nodes: [a], run: "true"}
    recover:
      checks:
        - {name: b-back, nodes: [b], run: "true"}
  - name: freeze
    fault: {kind: pause, machines: [a]}
    heal_after: 5s
    recover: {deadline: 1m, checks: [{name: up, run: "true"}]}
  - name: flaky-bmc
    fault: {kind: bmc-error, machines: [b], requests: 2}
    recover: {checks: [{name: up, run: "true"}]}
  - name: no-boot
    fault: {kind: boot-service-down}
    recover: {checks: [{name: up, run: "true"}]}
  - name: failing-boot
    fault: {kind: boot-service-error, status: 500}
    recover: {checks: [{name: up, run: "true"}]}
  - name: no-dhcp
    fault: {kind: dhcp-down}
    recover: {checks: [{name: up, run: "true"}]}
  - name: full
    fault: {kind: disk-fill, machines: [a], path: /var/lib, percent: 90}
    recover: {checks: [{name: up, run: "true"}]}
  - name: slow
    fault: {kind: delay, machines: [b], delay: 200ms, jitter: 20ms}
    recover: {checks: [{name: up, run: "true"}]}
  - name: twice
    fault: {kind: duplicate, machines: [a], percent: 20}
    recover: {checks: [{name: up, run: "true"}]}
  - name: dying-disk
    fault: {kind: disk-fail, machines: [a, b]}
    recover: {checks: [{name: up, run: "true"}]}
`

func TestStepsValid(t *testing.T) {
	s, err := load(t, stepsYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Steps) != 10 || s.Steps[2].Fault.Requests != 2 || s.Steps[0].Fault.Kind != FaultPartition || s.Steps[0].Fault.Machines[0] != "b" {
		t.Fatalf("steps = %+v", s.Steps)
	}
	if d := time.Duration(s.Steps[0].Deadline); d != DefaultDuringDeadline {
		t.Errorf("during deadline %s, want the default %s", d, DefaultDuringDeadline)
	}
	if d := time.Duration(s.Steps[1].Recover.Deadline); d != time.Minute {
		t.Errorf("recover deadline %s, want 1m", d)
	}
	for i, want := range map[int]string{0: "partition b", 3: "boot-service-down", 4: "boot-service-error 500", 5: "dhcp-down", 6: "disk-fill a /var/lib 90%", 7: "delay b 200ms ±20ms", 8: "duplicate a 20%", 9: "disk-fail a,b"} {
		if got := s.Steps[i].Fault.String(); got != want {
			t.Errorf("steps[%d]: fault in words %q, want %q", i, got, want)
		}
	}
}

func TestStepsInvalid(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown kind", "kind: pause", "kind: meteor", `steps[1].fault.kind: "meteor": want one of partition, pause, link-down, power-off, reset, service-stop, kill, loss, duplicate, delay, reorder, bmc-error, bmc-timeout, bmc-drop-sessions, bmc-refuse-boot, boot-service-down, boot-service-error, dhcp-down, disk-fill, disk-fail`},
		{"error status not a server error", "kind: pause, machines: [a]}", "kind: boot-service-error, status: 404}", "steps[1].fault.status: 404: a boot-service-error answers a server error, 500 to 599 (default 503)"},
		{"status off a boot-service-error", "kind: pause, machines: [a]}", "kind: boot-service-down, status: 500}", "steps[1].fault.status: only a boot-service-error has a status"},
		{"error of a machine", "kind: pause, machines: [a]}", "kind: boot-service-error, machines: [a]}", "steps[1].fault.machines: a boot-service-error acts on the whole lab's boot path: no machines"},
		{"unknown machine", "machines: [a]}", "machines: [z]}", `steps[1].fault.machines: no machine named "z"`},
		{"no machines", "kind: pause, machines: [a]}", "kind: pause}", "steps[1].fault.machines: missing: the machines the pause acts on"},
		{"machine twice", "machines: [a]}", "machines: [a, a]}", "steps[1].fault.machines: a twice"},
		{"partition of everyone", "machines: [b]}", "machines: [a, b]}", "steps[0].fault.machines: isolates every machine"},
		{"partition both ways", "machines: [b]}", "machines: [b], groups: [[a], [b]]}", "steps[0].fault.machines: a partition has exactly one of machines"},
		{"one group", "machines: [b]}", "groups: [[a, b]]}", "steps[0].fault.groups: a partition needs at least two groups"},
		{"empty group", "machines: [b]}", "groups: [[a], []]}", "steps[0].fault.groups[1]: empty"},
		{"group of nobody", "machines: [b]}", "groups: [[a], [q]]}", `steps[0].fault.groups: no machine named "q"`},
		{"groups off a partition", "machines: [a]}", "machines: [a], groups: [[a], [b]]}", "steps[1].fault.groups: only a partition has groups"},
		{"service without unit", "kind: pause", "kind: service-stop", `steps[1].fault.unit: "" is not a systemd unit name`},
		{"bad unit", "kind: pause, machines: [a]}", "kind: service-stop, machines: [a], unit: 'etcd; reboot'}", `steps[1].fault.unit: "etcd; reboot" is not a systemd unit name`},
		{"unit off a service", "machines: [a]}", "machines: [a], unit: etcd}", "steps[1].fault.unit: only a service-stop or a kill has a unit"},
		{"kill without unit", "kind: pause", "kind: kill", `steps[1].fault.unit: "" is not a systemd unit name`},
		{"where without machines", "machines: [b]}", "groups: [[a], [b]], where: 'true'}", "steps[0].fault.where: picks among machines"},
		{"bad before check", "heal_after: 5s", "heal_after: 5s\n    before: [{name: set-up, nodes: [q], run: \"true\"}]", `steps[1].before[0].nodes: no machine named "q"`},
		{"protocol off power", "machines: [a]}", "machines: [a], protocol: ipmi}", "steps[1].fault.protocol: only a power-off"},
		{"bad protocol", "kind: pause, machines: [a]}", "kind: power-off, machines: [a], protocol: snmp}", `steps[1].fault.protocol: "snmp": want ipmi or redfish`},
		{"requests off a BMC fault", "machines: [a]}", "machines: [a], requests: 2}", "steps[1].fault.requests: only a BMC fault (bmc-*) spoils a number of requests"},
		{"loss without percent", "kind: pause, machines: [a]}", "kind: loss, machines: [a]}", "steps[1].fault.percent: 0: a loss drops 1 to 100 percent of the frames"},
		{"loss over 100", "kind: pause, machines: [a]}", "kind: loss, machines: [a], percent: 130}", "steps[1].fault.percent: 130: a loss drops 1 to 100 percent"},
		{"percent off a loss", "machines: [a]}", "machines: [a], percent: 30}", "steps[1].fault.percent: only a loss, a duplicate, a reorder or a disk-fill has a percent"},
		{"duplicate without percent", "kind: pause, machines: [a]}", "kind: duplicate, machines: [a]}", "steps[1].fault.percent: 0: a duplicate sends 1 to 100 percent of the frames twice"},
		{"delay without delay", "kind: pause, machines: [a]}", "kind: delay, machines: [a]}", "steps[1].fault.delay: 0s: a delay holds frames for 10ms to 1s"},
		{"delay over a second", "kind: pause, machines: [a]}", "kind: delay, machines: [a], delay: 3s}", "steps[1].fault.delay: 3s: a delay holds frames for 10ms to 1s"},
		{"delay off a delay", "machines: [a]}", "machines: [a], delay: 200ms}", "steps[1].fault.delay: only a delay or a reorder has a delay"},
		{"jitter over the delay", "kind: pause, machines: [a]}", "kind: delay, machines: [a], delay: 100ms, jitter: 150ms}", "steps[1].fault.jitter: 150ms: want 0 to the delay (100ms)"},
		{"jitter off a delay", "kind: pause, machines: [a]}", "kind: reorder, machines: [a], percent: 25, delay: 50ms, jitter: 10ms}", "steps[1].fault.jitter: only a delay has a jitter"},
		{"reorder without delay", "kind: pause, machines: [a]}", "kind: reorder, machines: [a], percent: 25}", "steps[1].fault.delay: 0s: a reorder holds frames for 10ms to 1s"},
		{"reorder of every frame", "kind: pause, machines: [a]}", "kind: reorder, machines: [a], percent: 100, delay: 50ms}", "steps[1].fault.percent: 100: a reorder sends 1 to 99 percent of the frames at once"},
		{"boot path with machines", "kind: pause, machines: [a]}", "kind: boot-service-down, machines: [a]}", "steps[1].fault.machines: a boot-service-down acts on the whole lab's boot path: no machines"},
		{"dhcp with machines", "kind: pause, machines: [a]}", "kind: dhcp-down, machines: [a]}", "steps[1].fault.machines: a dhcp-down acts on the whole lab's boot path: no machines"},
		{"fill without path", "kind: pause, machines: [a]}", "kind: disk-fill, machines: [a]}", `steps[1].fault.path: "": want an absolute path`},
		{"fill relative path", "kind: pause, machines: [a]}", "kind: disk-fill, machines: [a], path: var/lib}", `steps[1].fault.path: "var/lib": want an absolute path`},
		{"fill path with a space", "kind: pause, machines: [a]}", "kind: disk-fill, machines: [a], path: '/var/x y'}", `steps[1].fault.path: "/var/x y": want an absolute path`},
		{"fill over 100", "kind: pause, machines: [a]}", "kind: disk-fill, machines: [a], path: /var, percent: 101}", "steps[1].fault.percent: 101: a disk-fill fills 1 to 100 percent"},
		{"fill without machines", "kind: pause, machines: [a]}", "kind: disk-fill, path: /var}", "steps[1].fault.machines: missing: the machines the disk-fill acts on"},
		{"path off a fill", "machines: [a]}", "machines: [a], path: /var}", "steps[1].fault.path: only a disk-fill has a path"},
		{"disk-fail without machines", "kind: pause, machines: [a]}", "kind: disk-fail}", "steps[1].fault.machines: missing: the machines the disk-fail acts on"},
		{"disk-fail with a path", "kind: pause, machines: [a]}", "kind: disk-fail, machines: [a], path: /var}", "steps[1].fault.path: only a disk-fill has a path"},
		{"negative requests", "kind: pause, machines: [a]}", "kind: bmc-error, machines: [a], requests: -1}", "steps[1].fault.requests: -1 is negative (0: until healed)"},
		{"BMC fault without machines", "kind: pause, machines: [a]}", "kind: bmc-timeout}", "steps[1].fault.machines: missing: the machines the bmc-timeout acts on"},
		{"bad name", "name: cut", "name: Cut_It", `steps[0].name: "Cut_It" is not a DNS label`},
		{"duplicate name", "name: freeze", "name: cut", "steps[1].name: duplicate step cut"},
		{"no recovery checks", "recover: {deadline: 1m, checks: [{name: up, run: \"true\"}]}", "recover: {deadline: 1m}", "steps[1].recover.checks: missing"},
		{"bad during check", "{name: a-writes, nodes: [a], run: \"true\"}", "{name: a-writes, nodes: [x], run: \"true\"}", `steps[0].during[0].nodes: no machine named "x"`},
		{"bad recover check", "{name: b-back, nodes: [b], run: \"true\"}", "{name: b-back, nodes: [b]}", "steps[0].recover.checks[0].run: a check has exactly one of run, report or fetched"},
		{"negative heal_after", "heal_after: 5s", "heal_after: -5s", "steps[1].heal_after: -5s is negative"},
		{"bad duration", "heal_after: 5s", "heal_after: soon", `time: invalid duration "soon"`},
		{"unknown field", "heal_after: 5s", "heal_afer: 5s", "field heal_afer not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(stepsYAML, tt.old, tt.new, 1)
			if y == stepsYAML {
				t.Fatalf("test case does not change the scenario")
			}
			_, err := load(t, y)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "s/scenario.yaml") {
				t.Fatalf("err = %v, want it to name s/scenario.yaml and contain %q", err, tt.want)
			}
		})
	}
}

func TestStepsNeedChecks(t *testing.T) {
	y := strings.Replace(stepsYAML, "checks:\n  - {name: c, run: \"true\", expect: {output_matches: '^ok$', fail_matches: 'forbidden'}}\n", "", 1)
	_, err := load(t, y)
	if err == nil || !strings.Contains(err.Error(), "s/scenario.yaml: steps: steps run after the convergence checks") {
		t.Fatalf("err = %v, want steps refused without checks", err)
	}
}

// TestStepsBeforeAndWhere: a step's before checks and a fault that picks
// its machines at run time (kill of a unit on whichever matches where).
func TestStepsBeforeAndWhere(t *testing.T) {
	y := stepsYAML + `  - name: kill-leader
    before: [{name: set-up, nodes: [a], run: "true"}]
    fault: {kind: kill, machines: [a, b], unit: etcd.service, where: "test -e /leader"}
    recover: {checks: [{name: up, run: "true"}]}
`
	s, err := load(t, y)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Steps[len(s.Steps)-1]
	if len(st.Before) != 1 || st.Before[0].Name != "set-up" || st.Fault.Where != "test -e /leader" || st.Fault.String() != "kill a,b unit etcd.service" {
		t.Errorf("step = %+v (fault %q)", st, st.Fault)
	}
}
