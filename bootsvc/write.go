package bootsvc

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Errors of the data API (the gRPC side maps them to status codes).
var (
	// ErrNotFound: no object of that id or name.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the object would not load; the error says why.
	ErrInvalid = errors.New("invalid")
	// ErrDataDir: the data directory itself does not load (a bad file put
	// there by hand), so no write is judged against it.
	ErrDataDir = errors.New("data directory does not load")
)

// reasonError keeps a message clean while matching a sentinel with errors.Is.
type reasonError struct {
	kind error
	err  error
}

func (e reasonError) Error() string   { return e.err.Error() }
func (e reasonError) Unwrap() []error { return []error{e.kind, e.err} }

func invalid(format string, args ...any) error {
	return reasonError{ErrInvalid, fmt.Errorf(format, args...)}
}

// Groups returns the groups being served, by id.
func (s *Server) Groups() []Group {
	st := s.state.Load()
	out := make([]Group, 0, st.index.files.len())
	st.index.files.each(func(_ string, g *Group) { out = append(out, *g) })
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Group returns the group being served with this id.
func (s *Server) Group(id string) (Group, error) {
	if g, ok := s.state.Load().index.ids.get(id); ok {
		return *g, nil
	}
	return Group{}, fmt.Errorf("group %q: %w", id, ErrNotFound)
}

// Profiles returns the profiles being served, by id.
func (s *Server) Profiles() []Profile {
	st := s.state.Load()
	out := make([]Profile, 0, len(st.profiles))
	for _, p := range st.profiles {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Profile returns the profile being served with this id.
func (s *Server) Profile(id string) (Profile, error) {
	if p := s.state.Load().profiles[id]; p != nil {
		return *p, nil
	}
	return Profile{}, fmt.Errorf("profile %q: %w", id, ErrNotFound)
}

// SelectGroup returns the group /ipxe would choose for these labels, which
// are read as HTTP query labels are (MACs normalised, UUIDs checked).
func (s *Server) SelectGroup(labels map[string]string) (Group, error) {
	q := url.Values{}
	for k, v := range labels {
		q.Set(k, v)
	}
	parsed, err := parseLabels(q.Encode())
	if err != nil {
		return Group{}, invalid("labels: %v", err)
	}
	g, ok := s.state.Load().index.selectGroup(parsed)
	if !ok {
		return Group{}, fmt.Errorf("no group matches labels {%s}: %w", labelString(parsed), ErrNotFound)
	}
	return *g, nil
}

// SelectProfile returns the profile of the group SelectGroup chooses.
func (s *Server) SelectProfile(labels map[string]string) (Profile, error) {
	g, err := s.SelectGroup(labels)
	if err != nil {
		return Profile{}, err
	}
	p, err := s.Profile(g.Profile)
	if err != nil {
		return Profile{}, fmt.Errorf("group %s names profile %q, which does not exist: %w", g.ID, g.Profile, ErrNotFound)
	}
	return p, nil
}

// Template returns the bytes of a template file (kind: ignition, cloud or
// generic; name: its path under that directory).
func (s *Server) Template(kind, name string) ([]byte, error) {
	rel, err := templatePath(kind, name)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(s.cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	defer root.Close()
	data, err := root.ReadFile(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", rel, ErrNotFound)
	}
	return data, err
}

// groupFile and profileFile are the files matchbox writes: its field order,
// empty fields left out, tab-indented.
type groupFile struct {
	ID       string            `json:"id,omitempty"`
	Name     string            `json:"name,omitempty"`
	Profile  string            `json:"profile,omitempty"`
	Selector map[string]string `json:"selector,omitempty"`
	Metadata json.RawMessage   `json:"metadata,omitempty"`
}

type profileFile struct {
	ID         string    `json:"id,omitempty"`
	Name       string    `json:"name,omitempty"`
	IgnitionID string    `json:"ignition_id,omitempty"`
	CloudID    string    `json:"cloud_id,omitempty"`
	Boot       *bootFile `json:"boot,omitempty"`
	GenericID  string    `json:"generic_id,omitempty"`
}

type bootFile struct {
	Kernel string   `json:"kernel,omitempty"`
	Initrd []string `json:"initrd,omitempty"`
	Args   []string `json:"args,omitempty"`
}

// PutGroup writes groups/<id>.json. metadata is the group's metadata as one
// JSON object (or empty), as matchbox's API carries it.
func (s *Server) PutGroup(g Group, metadata []byte) error {
	if err := checkID("group", g.ID); err != nil {
		return err
	}
	f := groupFile{ID: g.ID, Name: g.Name, Profile: g.Profile, Selector: g.Selector}
	if m := bytes.TrimSpace(metadata); len(m) > 0 && string(m) != "null" {
		var obj map[string]any
		if err := json.Unmarshal(metadata, &obj); err != nil {
			return invalid("group %s: metadata is not a JSON object: %v", g.ID, err)
		}
		f.Metadata = metadata
	}
	return s.putJSON("groups/"+g.ID+".json", f)
}

// PutProfile writes profiles/<id>.json.
func (s *Server) PutProfile(p Profile) error {
	if err := checkID("profile", p.ID); err != nil {
		return err
	}
	f := profileFile{ID: p.ID, Name: p.Name, IgnitionID: p.IgnitionID, CloudID: p.CloudID, GenericID: p.GenericID}
	if p.Boot.Kernel != "" || len(p.Boot.Initrd) > 0 || len(p.Boot.Args) > 0 {
		f.Boot = &bootFile{p.Boot.Kernel, p.Boot.Initrd, p.Boot.Args}
	}
	return s.putJSON("profiles/"+p.ID+".json", f)
}

// PutTemplate writes a template file under kind/ (ignition, cloud or generic).
func (s *Server) PutTemplate(kind, name string, data []byte) error {
	rel, err := templatePath(kind, name)
	if err != nil {
		return err
	}
	if data == nil {
		data = []byte{} // nil means "delete" to change
	}
	return s.change(rel, data)
}

// DeleteGroup removes the file that defines the group with this id.
func (s *Server) DeleteGroup(id string) error {
	return s.deleteObject("group", id, func(st *state) string {
		if g, ok := st.index.ids.get(id); ok {
			return g.file
		}
		return ""
	})
}

// DeleteProfile removes the file that defines the profile with this id.
func (s *Server) DeleteProfile(id string) error {
	return s.deleteObject("profile", id, func(st *state) string {
		if p := st.profiles[id]; p != nil {
			return p.file
		}
		return ""
	})
}

// DeleteTemplate removes a template file.
func (s *Server) DeleteTemplate(kind, name string) error {
	rel, err := templatePath(kind, name)
	if err != nil {
		return err
	}
	return s.change(rel, nil)
}

func (s *Server) deleteObject(what, id string, file func(*state) string) error {
	if err := checkID(what, id); err != nil {
		return err
	}
	rel := file(s.state.Load()) // change judges again, under the lock
	if rel == "" {
		return fmt.Errorf("%s %q: %w", what, id, ErrNotFound)
	}
	return s.change(rel, nil)
}

func (s *Server) putJSON(rel string, v any) error {
	data, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return invalid("%s: %v", rel, err)
	}
	return s.change(rel, data)
}

// change makes one write (data) or delete (nil) in the data directory, if
// the data being served with it would still load, and serves the result
// before it returns. A new file's bytes are written and synced before the
// lock, and the directory after it, so that concurrent writers overlap
// their waits on the disk; under reloadMu, writes, reloads and the watcher
// take turns, so no write is lost and the watcher never sees one half made.
func (s *Server) change(rel string, data []byte) error {
	root, err := os.OpenRoot(s.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	defer root.Close()
	tmp := ""
	if data != nil {
		if tmp, err = writeTemp(root, rel, data); err != nil {
			return err
		}
		defer root.Remove(tmp) // renamed into place, unless the write was refused
	}
	if err := s.swap(root, rel, data, tmp); err != nil {
		return err
	}
	return syncDir(root, path.Dir(rel))
}

// swap judges the one changed file against the state in memory
// (state.with), puts it in place (tmp renamed to rel, or rel removed) and
// swaps in the new state, its fingerprint updated from that file alone: a
// write costs one file, not the directory. Edits by hand reach the state
// through the watcher, SIGHUP or Reload; while the last of those failed (a
// bad file by hand), writes are refused, naming it.
func (s *Server) swap(root *os.Root, rel string, data []byte, tmp string) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.lastErr != nil {
		return reasonError{ErrDataDir, s.lastErr}
	}
	old := s.state.Load()
	next, err := old.with(rel, data, s.log)
	if err != nil {
		return err
	}
	before := s.fileHash(root, rel)
	if data == nil {
		err = root.Remove(rel)
	} else {
		err = root.Rename(tmp, rel)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	next.fingerprint = old.fingerprint - before + s.fileHash(root, rel)
	s.state.Store(next)
	s.metrics.setLoaded(next)
	s.log.Info("data directory changed through the API", "file", rel, "deleted", data == nil)
	return nil
}

// fileHash is rel's part of the fingerprint (0 when it is not there).
func (s *Server) fileHash(root *os.Root, rel string) uint64 {
	info, err := root.Stat(rel)
	if err != nil {
		return 0
	}
	return fileHash(filepath.Join(s.cfg.DataDir, filepath.FromSlash(rel)), info)
}

// writeTemp writes data to a hidden temporary file beside rel (the loader
// and the fingerprint skip dot files) and syncs it, so that renaming it to
// rel shows readers the old file or the new one, never a part.
func writeTemp(root *os.Root, rel string, data []byte) (string, error) {
	dir := path.Dir(rel)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	var suffix [6]byte
	rand.Read(suffix[:])
	tmp := path.Join(dir, "."+path.Base(rel)+".tmp-"+hex.EncodeToString(suffix[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", rel, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync() // the data is on disk before the name points at it
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		root.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", rel, err)
	}
	return tmp, nil
}

func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// checkID refuses ids that are not one plain file name: matchbox writes
// <id>.json, and an id with a slash or a leading dot would land elsewhere or
// be skipped by the loader.
func checkID(what, id string) error {
	if id == "" {
		return invalid("%s id is empty", what)
	}
	if err := checkName(id); err != nil || strings.Contains(id, "/") {
		return invalid("%s id %q: want a plain file name (no '/', no leading '.', no trailing '~')", what, id)
	}
	return nil
}

// templatePath is kind/name, refusing names that leave kind/ or that the
// loader would skip.
func templatePath(kind, name string) (string, error) {
	switch kind {
	case kindIgnition, kindCloud, kindGeneric:
	default:
		return "", invalid("template kind %q: want ignition, cloud or generic", kind)
	}
	if name == "" {
		return "", invalid("%s template name is empty", kind)
	}
	for _, part := range strings.Split(name, "/") {
		if err := checkName(part); err != nil {
			return "", invalid("%s template name %q: %v", kind, name, err)
		}
	}
	return kind + "/" + name, nil
}

func checkName(part string) error {
	switch {
	case part == "" || part == "." || part == "..":
		return fmt.Errorf("empty, . or .. path element")
	case ignoredName(part):
		return fmt.Errorf("%q starts with '.' or ends with '~', which the loader skips", part)
	case strings.ContainsAny(part, "\x00\\"):
		return fmt.Errorf("%q contains a NUL or a backslash", part)
	case len(part) > 200:
		return fmt.Errorf("path element longer than 200 bytes")
	}
	return nil
}
