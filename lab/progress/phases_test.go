package progress

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/lab/eventlog"
)

func s(machine string, at float64, kind, name string) Step {
	return Step{Machine: machine, At: sec(at), Kind: kind, Name: name}
}

// sec is x seconds in whole milliseconds, so that sums and medians are exact.
func sec(x float64) time.Duration { return time.Duration(math.Round(x*1000)) * time.Millisecond }

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []Step
		want  Summary
		line  string
	}{
		{
			name: "nothing seen",
			line: "",
		},
		{
			// pxe-smoke's timeline: no Ignition, no root image; uefi1's
			// check passes before its lease is polled (steps out of order).
			name: "pxe-smoke, two machines",
			steps: []Step{
				s("bios1", 5.8, KindLease, ""),
				s("uefi1", 10.0, KindLease, ""),
				s("bios1", 18.8, bootlog.KindIPXE, ""),
				s("bios1", 20.0, bootlog.KindAsset, ""),
				s("bios1", 20.0, bootlog.KindAsset, ""),
				s("uefi1", 23.0, bootlog.KindIPXE, ""),
				s("bios1", 24.8, KindLease, ""),
				s("bios1", 24.8, bootlog.KindReport, "booted"),
				s("bios1", 26.1, KindCheck, "booted-bios-profile"),
				s("uefi1", 28.1, KindCheck, "booted-uefi-profile"),
				s("uefi1", 27.8, KindLease, ""),
				s("uefi1", 27.8, bootlog.KindReport, "booted"),
			},
			want: Summary{Machines: 2, Last: "uefi1", LastEnd: sec(28.1), Phases: []PhaseTime{
				{"dhcp", sec(7.9), 2}, {"ipxe", sec(13.0), 2}, {"kernel", sec(5.4), 2}, {"booted", 0, 2}, {"checks", sec(0.8), 2},
			}},
			line: "phases (median of 2 machines): dhcp 7.9s, ipxe 13.0s, kernel 5.4s, booted 0.0s, checks 0.8s; last done: uefi1 at 28.1s",
		},
		{
			// etcd3's: the median of three; the last of several checks ends
			// the checks phase; node3 never reached Ignition (counted in
			// fewer machines, its later time in the next phase it reached).
			name: "live labos, three machines",
			steps: []Step{
				s("node1", 5, KindLease, ""), s("node1", 19, bootlog.KindIPXE, ""), s("node1", 23.5, bootlog.KindAsset, ""),
				s("node1", 70, KindLease, ""), s("node1", 75, bootlog.KindIgnition, ""), s("node1", 84, bootlog.KindAsset, ""),
				s("node1", 130, bootlog.KindReport, "booted"), s("node1", 140, KindLease, ""), s("node1", 150, bootlog.KindReport, "ready"),
				s("node1", 160, KindCheck, "a"), s("node1", 180, KindCheck, "b"),

				s("node2", 6, KindLease, ""), s("node2", 20, bootlog.KindIPXE, ""), s("node2", 72, KindLease, ""),
				s("node2", 78, bootlog.KindIgnition, ""), s("node2", 90, bootlog.KindAsset, ""), s("node2", 135, bootlog.KindReport, "booted"),
				s("node2", 152, bootlog.KindReport, "ready"), s("node2", 170, KindCheck, "a"),

				s("node3", 7, KindLease, ""), s("node3", 22, bootlog.KindIPXE, ""), s("node3", 80, KindLease, ""),
				s("node3", 200, bootlog.KindReport, "ready"), s("node3", 201, KindCheck, "a"),
			},
			want: Summary{Machines: 3, Last: "node3", LastEnd: sec(201), Phases: []PhaseTime{
				{"dhcp", sec(6), 3}, {"ipxe", sec(14), 3}, {"kernel", sec(52), 3}, {"ignition", sec(5.5), 2},
				{"root", sec(10.5), 2}, {"booted", sec(45.5), 2}, {"ready", sec(20), 3}, {"checks", sec(18), 3},
			}},
			line: "phases (median of 3 machines): dhcp 6.0s, ipxe 14.0s, kernel 52.0s, ignition 5.5s (2 of 3), root 10.5s (2 of 3), booted 45.5s (2 of 3), ready 20.0s, checks 18.0s; last done: node3 at 201.0s",
		},
		{
			// Stuck in its initramfs (no second lease): the kernel and
			// initrd fetched are not a root image, and no phase is made up.
			name: "stuck before the initramfs's lease",
			steps: []Step{
				s("node1", 26.5, KindLease, ""), s("node1", 30.8, bootlog.KindIPXE, ""),
				s("node1", 86.8, bootlog.KindAsset, ""), s("node1", 131.8, bootlog.KindAsset, ""),
			},
			want: Summary{Machines: 1, Last: "node1", LastEnd: sec(30.8), Phases: []PhaseTime{{"dhcp", sec(26.5), 1}, {"ipxe", sec(4.3), 1}}},
			line: "phases (median of 1 machine): dhcp 26.5s, ipxe 4.3s; last done: node1 at 30.8s",
		},
		{
			// A machine that never got a lease (its firmware gave up) has no
			// phase and is not counted; TFTP steps end no phase.
			name: "a machine with no phase",
			steps: []Step{
				s("m1", 3, KindTFTP, ""),
				s("m2", 4, KindLease, ""),
			},
			want: Summary{Machines: 1, Last: "m2", LastEnd: sec(4), Phases: []PhaseTime{{"dhcp", sec(4), 1}}},
			line: "phases (median of 1 machine): dhcp 4.0s; last done: m2 at 4.0s",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize(tc.steps)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Summarize =\n%+v\nwant\n%+v", got, tc.want)
			}
			if line := got.String(); line != tc.line {
				t.Errorf("String =\n%q\nwant\n%q", line, tc.line)
			}
		})
	}
}

func TestTimeline(t *testing.T) {
	var tl Timeline
	done := make(chan bool)
	go func() { tl.Add(s("m", 1, KindLease, "")); done <- true }()
	tl.Add(s("m", 2, KindCheck, "c"))
	<-done
	want := Summary{Machines: 1, Last: "m", LastEnd: sec(2), Phases: []PhaseTime{{"dhcp", sec(1), 1}, {"checks", sec(1), 1}}}
	if got := tl.Summary(); !reflect.DeepEqual(got, want) {
		t.Errorf("Summary = %+v, want %+v", got, want)
	}
}

func TestMachinePhases(t *testing.T) {
	steps := []Step{
		{Machine: "a", At: 1 * time.Second, Kind: KindLease},
		{Machine: "b", At: 2 * time.Second, Kind: KindLease},
		{Machine: "a", At: 3 * time.Second, Kind: bootlog.KindIPXE},
		{Machine: "a", At: 5 * time.Second, Kind: KindCheck, Name: "one"},
		{Machine: "a", At: 7 * time.Second, Kind: KindCheck, Name: "two"},
		{Machine: "c", At: 7 * time.Second, Kind: KindTFTP},
	}
	order, spans := MachinePhases(steps)
	if want := []string{"a", "b", "c"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	wantA := []Span{{"dhcp", 0, time.Second}, {"ipxe", time.Second, 3 * time.Second}, {"checks", 3 * time.Second, 7 * time.Second}}
	if !slices.Equal(spans["a"], wantA) {
		t.Errorf("a: %v, want %v", spans["a"], wantA)
	}
	if len(spans["b"]) != 1 || len(spans["c"]) != 0 {
		t.Errorf("b %v (one phase), c %v (none)", spans["b"], spans["c"])
	}
}

func TestFromLog(t *testing.T) {
	steps := FromLog([]eventlog.Entry{
		{Machine: "a", At: time.Second, Kind: KindLease, Text: "DHCP lease"},
		{Machine: "a", At: 2 * time.Second, Kind: eventlog.KindCheck, Name: "ok", Status: eventlog.StatusPassed},
		{Machine: "a", At: 3 * time.Second, Kind: eventlog.KindCheck, Name: "bad", Status: "failed"},
		{At: 4 * time.Second, Kind: eventlog.KindStep, Name: "cut", Status: "injected", Machines: []string{"a"}},
		{Machine: "a", At: 5 * time.Second, Kind: eventlog.KindCheck, Name: "cut/ok", Status: eventlog.StatusPassed, Step: "cut"},
	})
	want := []Step{{Machine: "a", At: time.Second, Kind: KindLease, Text: "DHCP lease"}, {Machine: "a", At: 2 * time.Second, Kind: KindCheck, Name: "ok"}}
	if !slices.Equal(steps, want) {
		t.Errorf("got %v, want %v (a failed check ends no phase, nor does a fault step or its checks)", steps, want)
	}
}
