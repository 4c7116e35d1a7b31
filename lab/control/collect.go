package control

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/labctl/labctl/internal/filecopy"
	"github.com/labctl/labctl/internal/junit"
	"github.com/labctl/labctl/lab/check"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/state"
)

// Collect copies the lab's logs, serial consoles, the boot service's
// machine log and the check results (as JUnit XML) into dst.
func (lb *Lab) Collect(ctx context.Context, dst string, run Convergence) error {
	l := lb.State.Lab
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := WriteJUnit(filepath.Join(dst, "junit.xml"), l.Name, run); err != nil {
		return err
	}
	logs := []string{l.ProcessLog(), l.BootsvcLog(), l.DnsmasqLog(), l.DnsmasqConfig(), filepath.Join(l.Dir, state.FileName)}
	machineLogs, _ := filepath.Glob(filepath.Join(l.MachinesDir(), "*", "*.log"))
	for _, f := range append(logs, machineLogs...) {
		rel, _ := filepath.Rel(l.Dir, f)
		if err := filecopy.Copy(f, filepath.Join(dst, rel)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
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
