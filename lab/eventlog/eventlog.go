// Package eventlog keeps what labctl saw a lab's machines do while it
// converged (each step, each check's result) in a file of the lab's, a JSON
// object a line, so that other processes (the dashboard) and later readers
// (the test report) see the same timeline the CLI printed.
package eventlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// KindCheck is the kind of a check's result on a node (Status, Output,
// Reason; Step when a scenario step ran it). KindStep is a scenario step's
// progress (Name the step, Status its phase, Text its fault, Machines those
// the fault acts on, Took the phase's duration, Reason why it failed); with
// ByHand, a fault injected or healed by hand (labctl fault, or healed by
// down): Name its id, Status injected or healed.
// Every other entry is a machine's step of the kind progress names.
const (
	KindCheck = "check"
	KindStep  = "step"
)

// StatusPassed is the Status of a check that passed (lab/check's word).
const StatusPassed = "passed"

// Entry is one line of the log.
type Entry struct {
	Time    time.Time     `json:"time"`             // wall clock, UTC
	At      time.Duration `json:"at"`               // since Converge began (the printed timeline's clock)
	Machine string        `json:"machine"`          // a check's node
	Kind    string        `json:"kind"`             // a step's kind, or KindCheck
	Name    string        `json:"name,omitempty"`   // a report's event name, a check's name
	Text    string        `json:"text,omitempty"`   // the step as the timeline prints it
	Status  string        `json:"status,omitempty"` // a check's: passed or failed
	Output  string        `json:"output,omitempty"` // a check's last attempt's output
	Reason  string        `json:"reason,omitempty"` // why a check's last attempt failed, or a step
	// A scenario step's: how long its phase took (held: the fault lasted;
	// recovered: the recovery time), and the machines its fault acts on.
	Took     time.Duration `json:"took,omitempty"`
	Machines []string      `json:"machines,omitempty"`
	Step     string        `json:"step,omitempty"`    // the scenario step that ran a check
	ByHand   bool          `json:"by_hand,omitempty"` // a step entry of a fault injected by hand, not by a step
}

// Writer appends entries to a lab's event log; safe for concurrent use
// (steps and check results come from different goroutines).
type Writer struct {
	mu    sync.Mutex
	f     *os.File
	start time.Time
}

// Create starts a fresh event log at path (a new Converge starts a new
// timeline; its clock restarts).
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create event log: %w", err)
	}
	return &Writer{f: f, start: time.Now()}, nil
}

// Append continues the event log at path on its own clock (what follows
// Converge, such as the scenario's steps, on the same timeline); a missing
// or empty log starts now.
func Append(path string) (*Writer, error) {
	entries, err := Read(path)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if len(entries) > 0 {
		start = entries[0].Time.Add(-entries[0].At)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("append to event log: %w", err)
	}
	return &Writer{f: f, start: start}, nil
}

// Start is the zero of the log's clock: an entry's Time is Start plus At.
func (w *Writer) Start() time.Time { return w.start }

// Add appends e as one line, written whole so a reader never sees half.
func (w *Writer) Add(e Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.f.Write(append(raw, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	return nil
}

// Close closes the file.
func (w *Writer) Close() error { return w.f.Close() }

// Read returns the entries of the log at path; a missing log is none. A
// last line not yet ended is left for the next read.
func Read(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read event log: %w", err)
	}
	defer f.Close()
	return read(f, path)
}

func read(r io.Reader, path string) ([]Entry, error) {
	var out []Entry
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return out, nil // a partial line is still being written
		}
		if err != nil {
			return out, fmt.Errorf("read %s: %w", path, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return out, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, e)
	}
}
