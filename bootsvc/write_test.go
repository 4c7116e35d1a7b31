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

// A write is judged against the directory as it is now: an edit by hand
// the watcher has not seen yet is loaded first.
func TestWriteSeesHandEdits(t *testing.T) {
	s := newTestServer(t, map[string]string{"profiles/p.json": `{"id":"p","boot":{"kernel":"/k"}}`}, Config{})
	writeTree(t, s.cfg.DataDir, map[string]string{"groups/hand.json": `{"id":"g","profile":"p"}`})
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
