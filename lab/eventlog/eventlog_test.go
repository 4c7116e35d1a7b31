package eventlog

import (
	"os"
	"path/filepath"
	"reflect"
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
	if !reflect.DeepEqual(got, want) {
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

// Append continues a log on its clock: its Start is the first entry's Time
// less its At, and what it adds follows what was there.
func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	zero := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	w, _ := Create(path)
	w.Add(Entry{Time: zero.Add(3 * time.Second), At: 3 * time.Second, Machine: "node1", Kind: "lease"})
	w.Close()
	w, err := Append(path)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Start().Equal(zero) {
		t.Errorf("Start %s, want %s", w.Start(), zero)
	}
	step := Entry{Time: zero.Add(40 * time.Second), At: 40 * time.Second, Kind: KindStep, Name: "cut", Status: "recovered",
		Text: "partition node3", Took: 7 * time.Second, Machines: []string{"node3"}}
	w.Add(step)
	w.Close()
	got, err := Read(path)
	if err != nil || len(got) != 2 || !reflect.DeepEqual(got[1], step) {
		t.Errorf("after Append: %+v, %v; want the lease then %+v", got, err, step)
	}
	fresh, err := Append(filepath.Join(t.TempDir(), "new.jsonl"))
	if err != nil || time.Since(fresh.Start()) > time.Minute {
		t.Errorf("Append to no log: start %s, %v; want now", fresh.Start(), err)
	}
	fresh.Close()
}
