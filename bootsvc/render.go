package bootsvc

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/template"

	butane "github.com/coreos/butane/config"
	butanecommon "github.com/coreos/butane/config/common"
	"github.com/coreos/ignition/v2/config/util"
	ign30 "github.com/coreos/ignition/v2/config/v3_0"
	ign31 "github.com/coreos/ignition/v2/config/v3_1"
	ign32 "github.com/coreos/ignition/v2/config/v3_2"
	ign33 "github.com/coreos/ignition/v2/config/v3_3"
	ign34 "github.com/coreos/ignition/v2/config/v3_4"
	ign35 "github.com/coreos/ignition/v2/config/v3_5"
	"github.com/coreos/vcontext/report"
)

// bootstrapIPXE is matchbox's /boot.ipxe, byte for byte: it makes iPXE send
// what it knows about the machine as labels.
const bootstrapIPXE = "#!ipxe\nchain ipxe?uuid=${uuid}&mac=${mac:hexhyp}&domain=${domain}&hostname=${hostname}&serial=${serial}&arch=${buildarch:uristring}\n"

// renderIPXE writes matchbox's /ipxe format.
func renderIPXE(w *bytes.Buffer, b Boot) {
	w.WriteString("#!ipxe\nkernel ")
	w.WriteString(b.Kernel)
	for _, a := range b.Args {
		w.WriteByte(' ')
		w.WriteString(a)
	}
	for _, i := range b.Initrd {
		w.WriteString("\ninitrd ")
		w.WriteString(i)
	}
	w.WriteString("\nboot\n")
}

// renderGRUB writes matchbox's /grub format: an EFI entry with a BIOS
// fallback (the doubled space after initrd is matchbox's).
func renderGRUB(w *bytes.Buffer, b Boot) {
	w.WriteString("default=0\nfallback=1\ntimeout=1\n")
	for _, e := range []struct{ title, linux, initrd string }{
		{"CoreOS (EFI)", "linuxefi", "initrdefi"},
		{"CoreOS (BIOS)", "linux", "initrd"},
	} {
		fmt.Fprintf(w, "menuentry %q {\necho \"Loading kernel\"\n%s \"%s\"", e.title, e.linux, b.Kernel)
		for _, a := range b.Args {
			w.WriteByte(' ')
			w.WriteString(a)
		}
		fmt.Fprintf(w, "\necho \"Loading initrd\"\n%s ", e.initrd)
		for _, i := range b.Initrd {
			fmt.Fprintf(w, " \"%s\"", i)
		}
		w.WriteString("\n}\n")
	}
}

// templateData is what templates see, built as matchbox builds it: group
// metadata at the top level, selectors (keys lower-cased) over it, and
// request.query / request.raw_query replacing any metadata "request".
func templateData(g *Group, labels map[string]string, rawQuery string) map[string]any {
	data := make(map[string]any, len(g.Metadata)+len(g.Selector)+1)
	for k, v := range g.Metadata {
		data[k] = v
	}
	for k, v := range g.Selector {
		data[strings.ToLower(k)] = v
	}
	data["request"] = map[string]any{"query": labels, "raw_query": rawQuery}
	return data
}

func execTemplate(t *template.Template, data map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, err // names the template, line and column
	}
	return buf.Bytes(), nil
}

// renderEnv writes template data as KEY=value lines (matchbox's /metadata):
// keys upper-cased, nested maps joined with "_", lists and nulls dropped.
// Unlike matchbox the lines are sorted, so the output is stable.
func renderEnv(w io.Writer, data map[string]any) {
	var lines []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			name := prefix + k
			switch v := v.(type) {
			case string, bool, float64:
				lines = append(lines, fmt.Sprintf("%s=%v", strings.ToUpper(name), v))
			case map[string]string:
				sub := make(map[string]any, len(v))
				for k, s := range v {
					sub[k] = s
				}
				walk(name+"_", sub)
			case map[string]any:
				walk(name+"_", v)
			}
		}
	}
	walk("", data)
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// butaneToIgnition translates a rendered Butane config and validates the
// result. The Ignition version is the one the Butane variant produces (fcos
// 1.4.0 gives 3.3.0): it is never up-converted, because Debian's Ignition
// refuses 3.4.
func butaneToIgnition(name string, rendered []byte) ([]byte, report.Report, error) {
	out, rpt, err := butane.TranslateBytes(rendered, butanecommon.TranslateBytesOptions{})
	if err != nil {
		if len(rpt.Entries) > 0 {
			return nil, rpt, fmt.Errorf("translate Butane %s: %w: %s", name, err, strings.TrimSpace(rpt.String()))
		}
		return nil, rpt, fmt.Errorf("translate Butane %s: %w", name, err)
	}
	if err := validateIgnition(out); err != nil {
		return nil, rpt, fmt.Errorf("%s: Butane produced an invalid Ignition config: %w", name, err)
	}
	return out, rpt, nil
}

// validateIgnition checks a config against the Ignition spec version it
// declares (3.0.0 to 3.5.0).
func validateIgnition(raw []byte) error {
	v, rpt, err := util.GetConfigVersion(raw)
	if err != nil {
		return ignitionError(err, rpt)
	}
	var parse func([]byte) (report.Report, error)
	switch v.String() {
	case "3.0.0":
		parse = func(b []byte) (report.Report, error) { _, r, err := ign30.Parse(b); return r, err }
	case "3.1.0":
		parse = func(b []byte) (report.Report, error) { _, r, err := ign31.Parse(b); return r, err }
	case "3.2.0":
		parse = func(b []byte) (report.Report, error) { _, r, err := ign32.Parse(b); return r, err }
	case "3.3.0":
		parse = func(b []byte) (report.Report, error) { _, r, err := ign33.Parse(b); return r, err }
	case "3.4.0":
		parse = func(b []byte) (report.Report, error) { _, r, err := ign34.Parse(b); return r, err }
	case "3.5.0":
		parse = func(b []byte) (report.Report, error) { _, r, err := ign35.Parse(b); return r, err }
	default:
		return fmt.Errorf("unsupported Ignition config version %s (want 3.0.0 to 3.5.0)", v)
	}
	rpt, err = parse(raw)
	if err != nil {
		return ignitionError(err, rpt)
	}
	return nil
}

func ignitionError(err error, rpt report.Report) error {
	if len(rpt.Entries) == 0 {
		return err
	}
	return fmt.Errorf("%w: %s", err, strings.TrimSpace(rpt.String()))
}
