package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Unknown is the phase of a lab whose state file cannot be read.
const Unknown Phase = "unknown"

// Summary is one lab as `labctl ls` shows it.
type Summary struct {
	Name     string    `json:"name"`
	Scenario string    `json:"scenario"` // as given to `labctl up`: a built-in name or a directory
	Provider string    `json:"provider"`
	Phase    Phase     `json:"phase"`
	Machines []string  `json:"machines"`
	Created  time.Time `json:"created"`
	Dir      string    `json:"dir"`
	Error    string    `json:"error,omitempty"` // why it failed, or why its state cannot be read
}

// List summarises the labs under root (see Root), sorted by name, each in
// the phase it recorded (labd.Assess says whether a running one really runs). A
// directory without a state file is not a lab; one whose state file cannot
// be read is listed in phase Unknown with the reason, so that the user sees
// it and can take it down. A copy of a lab's state (a test's artifacts
// kept under root) is not a lab either. No labs (or no root yet) is an empty list.
func List(root string) ([]Summary, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return []Summary{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list labs: %w", err)
	}
	out := []Summary{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		s, err := Load(dir)
		switch {
		case errors.Is(err, os.ErrNotExist), errors.Is(err, ErrCopy):
			continue
		case err != nil:
			out = append(out, Summary{Name: e.Name(), Phase: Unknown, Machines: []string{}, Dir: dir, Error: err.Error()})
			continue
		}
		sum := Summary{Name: e.Name(), Scenario: s.Source, Provider: s.Provider, Phase: s.Phase,
			Machines: []string{}, Created: s.Created, Dir: dir, Error: s.Error}
		if s.Lab != nil {
			for _, m := range s.Lab.Machines {
				sum.Machines = append(sum.Machines, m.Name)
			}
		}
		out = append(out, sum)
	}
	return out, nil
}
