package bootsvc

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
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
	out := make([]Group, len(st.index.groups))
	for i, g := range st.index.groups {
		out[i] = *g
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Group returns the group being served with this id.
func (s *Server) Group(id string) (Group, error) {
	for _, g := range s.state.Load().index.groups {
		if g.ID == id {
			return *g, nil
		}
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
		for _, g := range st.index.groups {
			if g.ID == id {
				return g.file
			}
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
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if err := s.currentLocked(); err != nil {
		return err
	}
	rel := file(s.state.Load())
	if rel == "" {
		return fmt.Errorf("%s %q: %w", what, id, ErrNotFound)
	}
	return s.changeLocked(rel, nil)
}

func (s *Server) putJSON(rel string, v any) error {
	data, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return invalid("%s: %v", rel, err)
	}
	return s.change(rel, data)
}

// change makes one write (data) or delete (nil) in the data directory, if
// the directory with it still loads, and serves the result before it returns.
// Writes, reloads and the watcher take turns under reloadMu, so concurrent
// writers never lose a write and the watcher never sees a write half made.
func (s *Server) change(rel string, data []byte) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if err := s.currentLocked(); err != nil {
		return err
	}
	return s.changeLocked(rel, data)
}

// currentLocked reloads first when the directory changed since the last good
// load (an edit by hand the watcher has not picked up yet), so that a write
// is judged against what is there, and a bad file elsewhere is not blamed on
// the write.
func (s *Server) currentLocked() error {
	fp, err := fingerprint(s.cfg.DataDir)
	if err != nil {
		return err
	}
	if fp == s.state.Load().fingerprint {
		return nil
	}
	if err := s.reloadLocked(); err != nil {
		s.failedFP = fp
		return reasonError{ErrDataDir, err}
	}
	return nil
}

func (s *Server) changeLocked(rel string, data []byte) error {
	if data == nil {
		if _, err := fs.Stat(os.DirFS(s.cfg.DataDir), rel); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", rel, ErrNotFound)
		}
	}
	quiet := slog.New(slog.DiscardHandler) // the real reload below warns once
	if _, err := loadFS(overlayFS{base: os.DirFS(s.cfg.DataDir), name: rel, data: data}, quiet); err != nil {
		return reasonError{ErrInvalid, err}
	}
	root, err := os.OpenRoot(s.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	defer root.Close()
	if data == nil {
		err = root.Remove(rel)
	} else {
		err = writeAtomic(root, rel, data)
	}
	if err != nil {
		return err
	}
	if err := syncDir(root, path.Dir(rel)); err != nil {
		return err
	}
	if err := s.reloadLocked(); err != nil {
		return err // judged above, so only a concurrent edit by hand gets here
	}
	s.log.Info("data directory changed through the API", "file", rel, "deleted", data == nil)
	return nil
}

// writeAtomic writes rel through a hidden temporary file in the same
// directory (the loader skips dot files) and renames it into place, so a
// reader sees the old file or the new one, never a part.
func writeAtomic(root *os.Root, rel string, data []byte) error {
	dir := path.Dir(rel)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	var suffix [6]byte
	rand.Read(suffix[:])
	tmp := path.Join(dir, "."+path.Base(rel)+".tmp-"+hex.EncodeToString(suffix[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync() // the data is on disk before the name points at it
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, rel)
	}
	if err != nil {
		root.Remove(tmp)
		return fmt.Errorf("write %s: %w", rel, err)
	}
	return nil
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
