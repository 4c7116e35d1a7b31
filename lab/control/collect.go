package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labctl/labctl/internal/filecopy"
	"github.com/labctl/labctl/internal/junit"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/dashboard"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/state"
)

// Collect copies the lab's logs, serial consoles, the boot service's
// machine log and the check results (as JUnit XML) into dst, and writes
// the HTML report (ReportFile) beside them.
func (lb *Lab) Collect(ctx context.Context, dst string, run Convergence) error {
	l := lb.State.Lab
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := WriteJUnit(filepath.Join(dst, "junit.xml"), l.Name, run); err != nil {
		return err
	}
	files := []string{l.DnsmasqConfig(), l.EventLog(), filepath.Join(l.Dir, state.FileName)}
	// Every log in the lab's directory: the lab process's, the boot
	// service's, dnsmasq's, the serial consoles and what a provider keeps
	// (libvirtd's and its QEMU logs), which is where a crash is explained.
	filepath.WalkDir(l.Dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.HasSuffix(path, ".log") {
			files = append(files, path)
		}
		return nil
	})
	for _, f := range files {
		rel, _ := filepath.Rel(l.Dir, f)
		if err := filecopy.Copy(f, filepath.Join(dst, rel)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := writeReport(ctx, l, dst); err != nil {
		return err
	}
	records, err := progress.BootLog(l).Records(ctx)
	if err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(records, "", "  ")
	return os.WriteFile(filepath.Join(dst, "machines.json"), raw, 0o644)
}

// WriteJUnit writes a run's check results and steps as a JUnit XML file.
func WriteJUnit(path, suite string, run Convergence) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = junit.Write(f, junit.Suite{Name: suite, Cases: append(check.JUnitCases(suite, run.Results), StepCases(suite, run.Steps)...)})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReportFile is the HTML report's name in a test's artifacts.
const ReportFile = "report.html"

// writeReport writes the lab's page as one self-contained file in dst,
// linking the logs Collect copied there.
func writeReport(ctx context.Context, l *lab.Lab, dst string) error {
	v, err := dashboard.Read(ctx, l.Dir, Prober{})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for i, m := range v.Machines {
		v.Machines[i].ConsoleLink = relTo(l, l.MachineFiles(m.Name).SerialLog)
	}
	for _, f := range []string{"junit.xml", "timeline.txt", relTo(l, l.ProcessLog()), relTo(l, l.BootsvcLog()),
		relTo(l, l.DnsmasqLog()), relTo(l, l.EventLog()), "machines.json"} {
		v.Links = append(v.Links, dashboard.Link{Name: f, Href: f})
	}
	var buf bytes.Buffer
	if err := dashboard.WriteReport(&buf, v); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return os.WriteFile(filepath.Join(dst, ReportFile), buf.Bytes(), 0o644)
}

// relTo is where Collect copies the lab's file path, relative to its destination.
func relTo(l *lab.Lab, path string) string {
	rel, _ := filepath.Rel(l.Dir, path)
	return filepath.ToSlash(rel)
}
