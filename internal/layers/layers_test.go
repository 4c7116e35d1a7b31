package layers

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/labctl/labctl/"

// The layers of docs/architecture.md, lowest first. A package may import
// packages of lower layers; only parts may import other parts.
const (
	vocabulary = iota + 1 // package power: words every layer shares
	model                 // the model and small tools every layer may use
	parts                 // providers, services, images, checks, BMC clients
	registries            // the one place that lists providers, the one that lists images
	roots                 // composition: the lab process, and what labctl does to labs
	cli
)

var layer = map[string]int{
	"lab": model, "tail": model, "filecopy": model, "images": model, "bmc": model,
	"bootsvc/bootlog": model, "bootsvc/dnsmasq": model, "lab/netns": model, "lab/proc": model,
	"internal/layers": model, "internal/testenv": model, "power": vocabulary, "images/verify": model,
	"bootsvc/rpc/rpcpb": parts, "bootsvc/rpc/serverpb": parts, "bootsvc/rpc/storagepb": parts, // generated
	"": model, // the repository's own tests (workflows_test.go)

	"firmware": parts, "lab/console": parts, "lab/state": parts, "lab/sshkeys": parts, "lab/vm": parts, "lab/progress": parts,
	"lab/qemu": parts, "lab/libvirt": parts, "lab/libvirt/libvirtd": parts,
	"bootsvc": parts, "bootsvc/rpc": parts, "images/labos": parts,
	"images/k8s": parts, "images/oci": model, "lab/pki": parts,
	"images/k8s/labhello": cli, "images/k8s/pause": cli, "scripts": model, // workload programs; the scripts' doc
	"images/fetch": parts, "images/fetch/fetchtest": parts, "images/flatcar": parts, "images/fcos": parts, "images/smoke": parts, "scenarios": parts, "scenarios/check": parts,
	"bmc/ipmi": parts, "bmc/redfish": parts, "bmc/protocols": parts, "bmc/inventory": parts,
	"bmc/reprovision": parts, "bmc/virtual": parts, "bmc/virtual/virtualtest": parts,

	"lab/providers": registries, "images/registry": registries,

	"lab/labd": roots, "lab/control": roots,

	"cmd/labctl": cli, "scripts/bootsvc-bench": cli,
}

// only lists packages that just the named importers may import (tests aside).
var only = map[string][]string{
	"lab/qemu":       {"lab/providers"},
	"lab/libvirt":    {"lab/providers"},
	"images/labos":   {"images/registry", "images/k8s"}, // the node image is a labos variant
	"images/smoke":   {"images/registry"},
	"images/flatcar": {"images/registry"},
	"images/fcos":    {"images/registry"},
	"images/k8s":     {"images/registry", "cmd/labctl"},                                  // kubectl runs the cached build
	"bootsvc":        {"lab/labd", "cmd/labctl", "bootsvc/rpc", "scripts/bootsvc-bench"}, // readers of its log use bootsvc/bootlog
	"lab/labd":       {"cmd/labctl"},
	"lab/control":    {"cmd/labctl"},
}

// never lists what a package must not import: the lab process composes what
// `labctl up` prepared and needs neither scenarios nor images.
var never = map[string][]string{
	"lab/labd": {"scenarios", "scenarios/check", "images", "images/registry", "images/labos", "images/smoke"},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], strings.TrimSuffix(module, "/")), "/")
		lp, ok := layer[pkg]
		if !ok {
			t.Errorf("package %s has no layer: add it to docs/architecture.md and to this test", pkg)
			continue
		}
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			ld, ok := layer[dep]
			switch {
			case !ok:
				continue // reported as a package of its own
			case ld > lp || (ld == lp && lp != parts):
				t.Errorf("%s imports %s: an import runs upward (layer %d imports layer %d)", pkg, dep, lp, ld)
			case only[dep] != nil && !slices.Contains(only[dep], pkg):
				t.Errorf("%s imports %s, which only %s may import", pkg, dep, strings.Join(only[dep], ", "))
			case slices.Contains(never[pkg], dep):
				t.Errorf("%s imports %s, which it must not", pkg, dep)
			}
		}
	}
}
