package eventlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Time: time.Unix(1, 0).UTC(), At: time.Second, Machine: "bios1", Kind: "lease", Text: "DHCP lease 10.0.0.2"},
		{Time: time.Unix(2, 0).UTC(), At: 2 * time.Second, Machine: "bios1", Kind: KindCheck, Name: "booted", Status: "passed", Output: "ok"},
	}
	for _, e := range want {
		if err := w.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	// A line still being written is not read, and not an error.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-`)
	f.Close()
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, err string
		n                  int
	}{
		{name: "missing", n: 0},
		{name: "empty", content: "", n: 0},
		{name: "bad", content: "{}\nnot json\n", err: "bad line 2: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if tc.name != "missing" {
				os.WriteFile(path, []byte(tc.content), 0o644)
			}
			got, err := Read(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != tc.n {
				t.Fatalf("got %d entries, %v; want %d", len(got), err, tc.n)
			}
		})
	}
}
