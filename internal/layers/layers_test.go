package layers

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/labctl/labctl/"

// The layers of docs/architecture.md, lowest first. A package imports only
// packages of lower layers (the generated protobuf packages aside).
const (
	vocabulary = iota + 1 // package power: words every layer shares; supervise: how every daemon is kept running
	model                 // the model, data and small tools every layer may use
	parts                 // parts that stand alone: services, image recipes, BMC clients, the lab's files
	assemblies            // parts made of parts: the VM layer, the API over the boot service, scenarios, progress
	runners               // what runs machines (providers) and checks against them
	registries            // the one place that lists providers, the one that lists images
	roots                 // composition: the lab process, and what labctl does to labs
	cli
)

var layer = map[string]int{
	"internal/power": vocabulary, "internal/supervise": vocabulary, "internal/sockapi": vocabulary, // sockapi: the client of the lab process's socket APIs

	"lab": model, "internal/tail": model, "internal/filecopy": model, "images": model, "bmc": model,
	"bootsvc/bootlog": model, "bootsvc/dnsmasq": model, "lab/netns": model, "lab/proc": model,
	"lab/shard":     model,                      // picks a share of a list of scenario names; needs nothing of ours
	"images/verify": model, "images/oci": model, // need nothing of ours: tools for the image parts
	"scenarios":       model,                                                                       // the built-in scenarios as data (embedded files)
	"internal/layers": model, "scripts": model, "internal/junit": model, "internal/testenv": model, // no code: the scripts' doc; junit needs nothing of ours
	"": model, // the repository's own tests (workflows_test.go)

	"lab/kea":        model, // a simulated rack's site DHCP server, configured and supervised: needs nothing of ours
	"lab/eventlog":   model, // the lab's event log (steps, check results): needs nothing of ours
	"bootsvc/outage": model, // a boot service failing on purpose, and its API: needs nothing of ours

	"lab/netem": parts, // the relays that delay and reorder a machine's frames, and their API

	"firmware": parts, "bootsvc": parts, "lab/state": parts, "lab/sshkeys": parts, "lab/pki": parts,
	"lab/console": parts, "lab/libvirt/libvirtd": parts,
	"images/labos": parts, "images/smoke": parts, "images/fetch": parts, "images/fetch/fetchtest": parts,
	"bmc/ipmi": parts, "bmc/redfish": parts, "bmc/inventory": parts, "bmc/reprovision": parts,
	"bmc/virtual": parts, "bmc/virtual/virtualtest": parts,
	"bootsvc/rpc/rpcpb": parts, "bootsvc/rpc/serverpb": parts, "bootsvc/rpc/storagepb": parts, // generated

	"lab/vm": assemblies, "lab/vm/vmtest": assemblies, "bootsvc/rpc": assemblies, "bootsvc/bootsvctest": assemblies, "bmc/protocols": assemblies,
	"images/k8s": assemblies, "images/flatcar": assemblies, "images/fcos": assemblies,
	"lab/progress": assemblies, // follows what lab/state records
	"lab/snapshot": assemblies, // saved labs on disk: a lab's state, its files, its images' identity
	"lab/scenario": assemblies, // issues through lab/pki, keys from lab/sshkeys

	"bootsvc/dhcp": assemblies, // the rack's interface checked, an inventory's reservations, dnsmasq

	"lab/qemu": runners, "lab/libvirt": runners, "lab/check": runners,
	"lab/fault":     runners, // faults injected through the providers, BMCs and SSH; the model's Fault
	"lab/rack":      runners, // a rack's servers as a provider, through bmc clients
	"bootsvc/serve": runners, // the boot service, its API and reload as one process
	"lab/dashboard": runners, // pages of labs from their state, event log and consoles (progress's phases)

	"lab/providers": registries, "images/registry": registries,

	"lab/labd": roots, "lab/control": roots,

	"cmd/labctl": cli, "scripts/bootsvc-bench": cli,
	"images/k8s/labhello": cli, "images/k8s/pause": cli, // workload programs
}

// generated packages import each other as protoc made them.
var generated = []string{"bootsvc/rpc/rpcpb", "bootsvc/rpc/serverpb", "bootsvc/rpc/storagepb"}

// folders are the top-level folders, lowest first: a folder imports only
// folders before it (and itself). The lab/ folder is last but the CLI's: it
// holds the model and what composes everything else.
var folders = []string{"", "internal", "scenarios", "firmware", "images", "bootsvc", "bmc", "lab", "scripts", "cmd"}

// only lists packages that just the named importers may import (tests aside).
var only = map[string][]string{
	"lab/qemu":       {"lab/providers"},
	"lab/libvirt":    {"lab/providers"},
	"lab/rack":       {"lab/providers"},
	"images/labos":   {"images/registry", "images/k8s"}, // the node image is a labos variant
	"images/smoke":   {"images/registry"},
	"images/flatcar": {"images/registry"},
	"images/fcos":    {"images/registry"},
	"images/k8s":     {"images/registry", "cmd/labctl"},                                                                          // kubectl runs the cached build
	"bootsvc":        {"lab/labd", "cmd/labctl", "bootsvc/rpc", "bootsvc/serve", "scripts/bootsvc-bench", "bootsvc/bootsvctest"}, // readers of its log use bootsvc/bootlog
	"lab/labd":       {"cmd/labctl"},
	"lab/control":    {"cmd/labctl"},
}

// never lists what a package must not import: the lab process composes what
// `labctl up` prepared and needs neither scenarios nor images.
var never = map[string][]string{
	"lab/labd": {"scenarios", "lab/scenario", "lab/check", "images", "images/registry", "images/labos", "images/smoke"},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range violations(strings.Split(strings.TrimSpace(string(out)), "\n")) {
		t.Error(p)
	}
}

// The rules catch what they are for: each import below breaks one.
func TestViolations(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"lab/scenario " + module + "lab/control", "lab/scenario imports lab/control: an import runs upward or sideways (layer 4 imports layer 7)"},
		{"lab/state " + module + "lab/progress", "lab/state imports lab/progress: an import runs upward or sideways (layer 3 imports layer 4)"},
		{"lab/progress " + module + "lab/scenario", "lab/progress imports lab/scenario: an import runs upward or sideways (layer 4 imports layer 4)"},
		{"images/labos " + module + "lab", "images/labos imports lab: folder images/ imports lab/, which sits above it"},
		{"lab/vm " + module + "lab/qemu", "lab/vm imports lab/qemu: an import runs upward or sideways (layer 4 imports layer 5)"},
		{"lab/control " + module + "lab/qemu", "lab/control imports lab/qemu, which only lab/providers may import"},
		{"lab/labd " + module + "lab/scenario", "lab/labd imports lab/scenario, which it must not"},
		{"lab/newpart", "package lab/newpart has no layer: add it to docs/architecture.md and to this test"},
	} {
		if got := violations([]string{module + tc.line}); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.line, got, tc.want)
		}
	}
}

// violations checks lines of `go list` (a package, then its imports).
func violations(lines []string) []string {
	var bad []string
	for _, line := range lines {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], strings.TrimSuffix(module, "/")), "/")
		lp, ok := layer[pkg]
		if !ok {
			bad = append(bad, fmt.Sprintf("package %s has no layer: add it to docs/architecture.md and to this test", pkg))
			continue
		}
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if fp, fd := slices.Index(folders, folder(pkg)), slices.Index(folders, folder(dep)); fp < 0 || fd < 0 {
				bad = append(bad, fmt.Sprintf("%s imports %s: a top-level folder is missing from folders", pkg, dep))
			} else if fd > fp {
				bad = append(bad, fmt.Sprintf("%s imports %s: folder %s/ imports %s/, which sits above it", pkg, dep, folder(pkg), folder(dep)))
				continue
			}
			ld, ok := layer[dep]
			switch {
			case !ok:
				continue // reported as a package of its own
			case ld > lp || (ld == lp && !(slices.Contains(generated, pkg) && slices.Contains(generated, dep))):
				bad = append(bad, fmt.Sprintf("%s imports %s: an import runs upward or sideways (layer %d imports layer %d)", pkg, dep, lp, ld))
			case only[dep] != nil && !slices.Contains(only[dep], pkg):
				bad = append(bad, fmt.Sprintf("%s imports %s, which only %s may import", pkg, dep, strings.Join(only[dep], ", ")))
			case slices.Contains(never[pkg], dep):
				bad = append(bad, fmt.Sprintf("%s imports %s, which it must not", pkg, dep))
			}
		}
	}
	return bad
}

// folder is the top-level folder of a package ("" for the repository's root).
func folder(pkg string) string {
	top, _, _ := strings.Cut(pkg, "/")
	return top
}
