package bootsvc

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while the flusher writes.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	fail   error
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) state() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

func TestLogWriter(t *testing.T) {
	tests := []struct {
		name       string
		interval   time.Duration
		lines      int
		line       string
		wantWrites func(int) bool // before Close
		wait       bool           // for wantWrites, else checked at once
		wantAll    bool
	}{
		{"batched: nothing written before the interval", time.Hour, 100, "short line\n", func(n int) bool { return n == 0 }, false, false},
		{"flushed after the interval", 10 * time.Millisecond, 100, "short line\n", func(n int) bool { return n >= 1 }, true, true},
		{"flushed when a batch is full", time.Hour, 3, strings.Repeat("x", logBatch/2) + "\n", func(n int) bool { return n == 1 }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			l := NewLogWriter(&out, tt.interval)
			for range tt.lines {
				if _, err := l.Write([]byte(tt.line)); err != nil {
					t.Fatal(err)
				}
			}
			text, writes := out.state()
			all := func() bool { return !tt.wantAll || text == strings.Repeat(tt.line, tt.lines) }
			for deadline := time.Now().Add(10 * time.Second); tt.wait && !(tt.wantWrites(writes) && all()) && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				text, writes = out.state()
			}
			if !tt.wantWrites(writes) {
				t.Errorf("%d writes before Close", writes)
			}
			if !all() {
				t.Errorf("got %d bytes before Close, want all %d", len(text), len(tt.line)*tt.lines)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if text, _ := out.state(); text != strings.Repeat(tt.line, tt.lines) {
				t.Errorf("after Close: %d bytes, want %d", len(text), len(tt.line)*tt.lines)
			}
		})
	}
}

func TestLogWriterError(t *testing.T) {
	full := errors.New("no space left on device")
	out := &syncBuffer{fail: full}
	l := NewLogWriter(out, time.Hour)
	l.Write([]byte("line\n"))
	if err := l.Close(); !errors.Is(err, full) {
		t.Fatalf("Close: %v, want %v", err, full)
	}
	if _, err := l.Write([]byte("more\n")); !errors.Is(err, full) {
		t.Errorf("Write after a failed flush: %v, want %v", err, full)
	}
}
