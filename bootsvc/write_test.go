package bootsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// errorCounter counts records at Error level (a reload that failed).
type errorCounter struct {
	slog.Handler
	n    *atomic.Int64
	last *atomic.Value
}

func (h errorCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.n.Add(1)
		var b strings.Builder
		r.Attrs(func(a slog.Attr) bool { b.WriteString(a.String() + " "); return true })
		h.last.Store(r.Message + ": " + b.String())
	}
	return nil
}

// Many writers and readers at once, with explicit reloads and the watcher
// polling fast: no write is lost, no reload sees a torn file, readers see
// a group either not yet or whole.
func TestConcurrentWritersAndReaders(t *testing.T) {
	writers, perWriter, readers := 8, 12, 4
	if testing.Short() {
		writers, perWriter, readers = 4, 5, 2
	}
	var errs atomic.Int64
	var last atomic.Value
	s := newTestServer(t, map[string]string{
		"profiles/p.json": `{"id":"p","boot":{"kernel":"/k"}}`,
	}, Config{Logger: slog.New(errorCounter{slog.DiscardHandler, &errs, &last})})
	s.reloadInterval = 5 * time.Millisecond
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { s.watch(ctx) })
	var reloadErr atomic.Value
	bg.Go(func() {
		for ctx.Err() == nil {
			if err := s.Reload(); err != nil {
				reloadErr.Store(err)
			}
			time.Sleep(5 * time.Millisecond) // let writers have the lock too
		}
	})
	// Readers: a group's /metadata is either 404 or exactly its own.
	var readErr atomic.Value
	for r := range readers {
		bg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				w, n := (i+r)%writers, i%perWriter
				resp, err := http.Get(fmt.Sprintf("%s/metadata?mac=%s", ts.URL, macOf(w, n)))
				if err != nil {
					readErr.Store(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				m := macOf(w, n)
				want := fmt.Sprintf("MAC=%s\nPAD=%s\nREQUEST_QUERY_MAC=%s\nREQUEST_RAW_QUERY=mac=%s\nWRITER=%d\n", m, pad, m, m, w)
				if resp.StatusCode == http.StatusOK && string(body) != want ||
					resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
					readErr.Store(fmt.Errorf("GET /metadata for %s = %d, %d bytes, want 404 or its own %d bytes", m, resp.StatusCode, len(body), len(want)))
				}
			}
		})
	}

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for n := range perWriter {
				g := Group{ID: fmt.Sprintf("w%d-%d", w, n), Profile: "p", Selector: map[string]string{"mac": macOf(w, n)}}
				if err := s.PutGroup(g, []byte(fmt.Sprintf(`{"writer":%d,"pad":%q}`, w, pad))); err != nil {
					t.Errorf("PutGroup %s: %v", g.ID, err)
				}
				// Everyone also rewrites one shared template: last writer wins, whole.
				if err := s.PutTemplate(kindGeneric, "shared/last.txt", []byte(fmt.Sprintf("writer %d\n", w))); err != nil {
					t.Errorf("PutTemplate: %v", err)
				}
			}
		})
	}
	wg.Wait()
	cancel()
	bg.Wait()

	if err := reloadErr.Load(); err != nil {
		t.Errorf("a reload failed during the writes (a torn file?): %v", err)
	}
	if err := readErr.Load(); err != nil {
		t.Error(err)
	}
	if n := errs.Load(); n > 0 {
		t.Errorf("%d errors logged (the watcher saw a bad state), last: %v", n, last.Load())
	}
	if got, want := len(s.Groups()), writers*perWriter; got != want {
		t.Errorf("%d groups served, want %d (a write was lost)", got, want)
	}
	for w := range writers {
		for n := range perWriter {
			if code, _ := get(t, s.Handler(), "/ipxe?mac="+macOf(w, n)); code != http.StatusOK {
				t.Fatalf("/ipxe for writer %d group %d = %d", w, n, code)
			}
		}
	}
	data, err := s.Template(kindGeneric, "shared/last.txt")
	if err != nil || !strings.HasPrefix(string(data), "writer ") {
		t.Errorf("shared template = %q, %v", data, err)
	}
	// No temporary file is left behind.
	filepath.WalkDir(s.cfg.DataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".") {
			t.Errorf("left behind: %s", p)
		}
		return err
	})
}

// pad makes each group file large enough that a torn write would show.
var pad = strings.Repeat("x", 4096)

func macOf(w, n int) string { return fmt.Sprintf("52:54:00:00:%02x:%02x", w, n) }

// A write is judged against the data being served: an edit by hand joins
// it through a reload (the watcher, SIGHUP), and is then held against writes.
func TestWriteSeesHandEdits(t *testing.T) {
	s := newTestServer(t, map[string]string{"profiles/p.json": `{"id":"p","boot":{"kernel":"/k"}}`}, Config{})
	writeTree(t, s.cfg.DataDir, map[string]string{"groups/hand.json": `{"id":"g","profile":"p"}`})
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	err := s.PutGroup(Group{ID: "g", Profile: "p"}, nil)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `group id "g" is defined twice: groups/g.json and groups/hand.json`) {
		t.Fatalf("PutGroup = %v, want the duplicate id refused", err)
	}
	if err := s.DeleteGroup("g"); err != nil {
		t.Fatalf("DeleteGroup of the hand-made group: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.DataDir, "groups/hand.json")); !os.IsNotExist(err) {
		t.Errorf("groups/hand.json still there: %v", err)
	}
}

// While the directory holds a bad file by hand (its reload failed), writes
// are refused naming it; once it is fixed and reloaded, they go through.
func TestWriteOverBadDirectory(t *testing.T) {
	s := newTestServer(t, map[string]string{"profiles/p.json": `{"id":"p","boot":{"kernel":"/k"}}`}, Config{})
	writeTree(t, s.cfg.DataDir, map[string]string{"groups/hand.json": `{`})
	if err := s.Reload(); err == nil {
		t.Fatal("reload of a bad file succeeded")
	}
	err := s.PutGroup(Group{ID: "g", Profile: "p"}, nil)
	if !errors.Is(err, ErrDataDir) || !strings.Contains(err.Error(), "groups/hand.json") {
		t.Fatalf("PutGroup over a bad directory = %v, want ErrDataDir naming groups/hand.json", err)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.DataDir, "groups/g.json")); !os.IsNotExist(err) {
		t.Errorf("groups/g.json written: %v", err)
	}
	os.Remove(filepath.Join(s.cfg.DataDir, "groups/hand.json"))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGroup(Group{ID: "g", Profile: "p"}, nil); err != nil {
		t.Fatalf("PutGroup after the fix: %v", err)
	}
}

// A bad write changes nothing: not a byte of the directory, not what is
// served. Each is judged on its own against the data in memory.
func TestBadWriteChangesNothing(t *testing.T) {
	files := map[string]string{
		"profiles/p.json":   `{"id":"p","boot":{"kernel":"/k"},"generic_id":"t.txt"}`,
		"profiles/q.json":   `{"id":"q","boot":{"kernel":"/q"}}`,
		"groups/a.json":     `{"id":"a","profile":"p","selector":{"mac":"52:54:00:00:00:01"}}`,
		"groups/other.json": `{"id":"b","profile":"p","selector":{"mac":"52:54:00:00:00:02"}}`,
		"generic/t.txt":     "mac {{.mac}}\n",
		"ignition/raw.ign":  `{"ignition":{"version":"3.3.0"}}`,
	}
	s := newTestServer(t, files, Config{})
	tests := []struct {
		name string
		do   func() error
		kind error
		want string
	}{
		{"duplicate group id in another file", func() error { return s.PutGroup(Group{ID: "b", Profile: "p"}, nil) }, ErrInvalid, `group id "b" is defined twice: groups/b.json and groups/other.json`},
		{"group without profile", func() error { return s.PutGroup(Group{ID: "c"}, nil) }, ErrInvalid, "groups/c.json: field profile is empty"},
		{"group metadata not an object", func() error { return s.PutGroup(Group{ID: "c", Profile: "p"}, []byte(`[1]`)) }, ErrInvalid, "metadata is not a JSON object"},
		{"bad selector", func() error {
			return s.PutGroup(Group{ID: "c", Profile: "p", Selector: map[string]string{"mac": "nope"}}, nil)
		}, ErrInvalid, "groups/c.json"},
		{"template that does not parse", func() error { return s.PutTemplate(kindGeneric, "t.txt", []byte("{{.mac")) }, ErrInvalid, "generic/t.txt"},
		{"raw Ignition that does not validate", func() error { return s.PutTemplate(kindIgnition, "raw.ign", []byte(`{"ignition":{"version":"9"}}`)) }, ErrInvalid, "ignition/raw.ign"},
		{"delete a group that is not there", func() error { return s.DeleteGroup("zz") }, ErrNotFound, `group "zz"`},
		{"delete a template that is not there", func() error { return s.DeleteTemplate(kindCloud, "x.yaml") }, ErrNotFound, "cloud/x.yaml"},
	}
	before := treeOf(t, s.cfg.DataDir)
	servedBefore := fmt.Sprint(s.Groups(), s.Profiles())
	_, ipxeBefore := get(t, s.Handler(), "/ipxe?mac=52:54:00:00:00:01")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %v naming %q", err, tt.kind, tt.want)
			}
			if after := treeOf(t, s.cfg.DataDir); after != before {
				t.Errorf("the directory changed:\nbefore %s\nafter  %s", before, after)
			}
			if served := fmt.Sprint(s.Groups(), s.Profiles()); served != servedBefore {
				t.Errorf("what is served changed:\nbefore %s\nafter  %s", servedBefore, served)
			}
			if _, body := get(t, s.Handler(), "/ipxe?mac=52:54:00:00:00:01"); body != ipxeBefore {
				t.Errorf("/ipxe changed: %q, was %q", body, ipxeBefore)
			}
		})
	}
	// and the watcher finds the directory as the state says it is
	if fp, err := fingerprint(s.cfg.DataDir); err != nil || fp != s.state.Load().fingerprint {
		t.Errorf("fingerprint %x, %v; state's %x", fp, err, s.state.Load().fingerprint)
	}
}

// A good write is served at once, and the state's fingerprint (updated from
// the one file) equals the directory's, so the watcher does not reload.
func TestWriteKeepsFingerprint(t *testing.T) {
	s := newTestServer(t, map[string]string{"profiles/p.json": `{"id":"p","boot":{"kernel":"/k"}}`}, Config{})
	steps := []func() error{
		func() error {
			return s.PutGroup(Group{ID: "a", Profile: "p", Selector: map[string]string{"mac": "52:54:00:00:00:01"}}, nil)
		},
		func() error {
			return s.PutGroup(Group{ID: "a", Profile: "p", Selector: map[string]string{"mac": "52:54:00:00:00:02"}}, nil)
		},
		func() error { return s.PutTemplate(kindGeneric, "x/y.txt", []byte("hi")) },
		func() error { return s.PutProfile(Profile{ID: "q", Boot: Boot{Kernel: "/q"}}) },
		func() error { return s.DeleteTemplate(kindGeneric, "x/y.txt") },
		func() error { return s.DeleteProfile("q") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if fp, _ := fingerprint(s.cfg.DataDir); fp != s.state.Load().fingerprint {
			t.Fatalf("after step %d the state's fingerprint %x differs from the directory's %x", i, s.state.Load().fingerprint, fp)
		}
	}
	if code, _ := get(t, s.Handler(), "/ipxe?mac=52:54:00:00:00:02"); code != http.StatusOK {
		t.Errorf("/ipxe for the moved group = %d", code)
	}
	if code, _ := get(t, s.Handler(), "/ipxe?mac=52:54:00:00:00:01"); code != http.StatusNotFound {
		t.Errorf("/ipxe for the old selector = %d, want 404", code)
	}
}

// treeOf is every file under dir with its content.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "%s=%q\n", strings.TrimPrefix(p, dir), data)
		}
		return err
	})
	return b.String()
}

func TestTemplatesInSubdirectories(t *testing.T) {
	s := newTestServer(t, map[string]string{}, Config{})
	steps := []struct {
		name string
		do   func() error
	}{
		{"template in new nested directories", func() error { return s.PutTemplate(kindGeneric, "a/b/c.txt", []byte("hi {{.mac}}\n")) }},
		{"profile naming it", func() error { return s.PutProfile(Profile{ID: "p", Boot: Boot{Kernel: "/k"}, GenericID: "a/b/c.txt"}) }},
		{"default group", func() error { return s.PutGroup(Group{ID: "default", Profile: "p"}, nil) }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	if code, body := get(t, s.Handler(), "/generic?mac=52:54:00:00:00:01"); code != http.StatusOK || body != "hi \n" && body != "hi <no value>\n" {
		// the default group has no mac selector, so {{.mac}} is missing: a 500 naming it
		if code != http.StatusInternalServerError || !strings.Contains(body, `map has no entry for key "mac"`) {
			t.Errorf("GET /generic = %d %q", code, body)
		}
	}
	if err := s.DeleteTemplate(kindGeneric, "a/b/c.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Template(kindGeneric, "a/b/c.txt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Template after delete: %v, want ErrNotFound", err)
	}
}
