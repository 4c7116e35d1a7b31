package bootsvc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

// Group selects a profile for the machines whose labels match its selector
// (matchbox's groups/*.json).
type Group struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Profile  string            `json:"profile"`
	Selector map[string]string `json:"selector"`
	Metadata map[string]any    `json:"metadata"`

	file   string // relative to the data directory, for messages
	sel    string // selectorString(Selector), matchbox's tie-breaker
	anchor pair   // the selector pair the index files it under
}

// Profile says what a machine boots and which configs it gets
// (matchbox's profiles/*.json).
type Profile struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Boot       Boot   `json:"boot"`
	IgnitionID string `json:"ignition_id"`
	CloudID    string `json:"cloud_id"`
	GenericID  string `json:"generic_id"`

	file string
}

// Boot is a profile's kernel, initrds and kernel arguments.
type Boot struct {
	Kernel string   `json:"kernel"`
	Initrd []string `json:"initrd"`
	Args   []string `json:"args"`
}

// Template kinds, which are also the data directory's sub-directories.
const (
	kindIgnition = "ignition"
	kindCloud    = "cloud"
	kindGeneric  = "generic"
)

// state is one consistent load of the data directory; it is never mutated
// after load, so requests read it without locks.
type state struct {
	index       *index
	profiles    map[string]*Profile
	templates   map[string]*template.Template // key: "kind/name"
	rawIgnition map[string][]byte             // key: "ignition/name", validated
	fingerprint uint64
}

// loadState reads and checks the whole data directory. Any bad file is an
// error naming it; inconsistencies that matchbox tolerates are warnings.
func loadState(dir string, log *slog.Logger) (*state, error) {
	fp, err := fingerprint(dir)
	if err != nil {
		return nil, err
	}
	st, err := loadFS(os.DirFS(dir), log)
	if err != nil {
		return nil, err
	}
	st.fingerprint = fp
	return st, nil
}

// loadFS is loadState on a file system: the data directory itself, or the
// directory as a write would leave it (see overlayFS), to judge the write
// before it is made.
func loadFS(fsys fs.FS, log *slog.Logger) (*state, error) {
	st := &state{
		profiles:    map[string]*Profile{},
		templates:   map[string]*template.Template{},
		rawIgnition: map[string][]byte{},
	}
	groups, err := loadGroups(fsys, log)
	if err != nil {
		return nil, err
	}
	if err := st.loadProfiles(fsys, log); err != nil {
		return nil, err
	}
	for _, kind := range []string{kindIgnition, kindCloud, kindGeneric} {
		if err := st.loadTemplates(fsys, kind); err != nil {
			return nil, err
		}
	}
	for _, g := range groups {
		st.warnProfile(g, log)
	}
	for _, p := range st.profiles {
		st.warnTemplates(p, log)
	}
	st.index = newIndex(groups, log)
	return st, nil
}

// warnProfile and warnTemplates warn of what matchbox tolerates: a group
// naming a missing profile, a profile naming a missing template.
func (st *state) warnProfile(g *Group, log *slog.Logger) {
	if _, ok := st.profiles[g.Profile]; !ok {
		log.Warn("group names a profile that does not exist", "file", g.file, "profile", g.Profile)
	}
}

func (st *state) warnTemplates(p *Profile, log *slog.Logger) {
	for kind, id := range map[string]string{kindIgnition: p.IgnitionID, kindCloud: p.CloudID, kindGeneric: p.GenericID} {
		if id != "" && st.templates[kind+"/"+id] == nil && st.rawIgnition[kind+"/"+id] == nil {
			log.Warn("profile names a template that does not exist", "file", p.file, "field", kind+"_id", "template", kind+"/"+id)
		}
	}
}

func loadGroups(fsys fs.FS, log *slog.Logger) ([]*Group, error) {
	var groups []*Group
	byID := map[string]string{}
	err := eachJSON(fsys, "groups", log, func(rel string, data []byte) error {
		g, err := parseGroup(rel, data, log)
		if err != nil {
			return err
		}
		if other, dup := byID[g.ID]; dup {
			return duplicate("group", g.ID, other, rel)
		}
		byID[g.ID] = rel
		groups = append(groups, g)
		return nil
	})
	return groups, err
}

// parseGroup reads one group file; errors name it.
func parseGroup(rel string, data []byte, log *slog.Logger) (*Group, error) {
	g := &Group{file: rel}
	if err := decodeJSON(data, g, rel, log); err != nil {
		return nil, err
	}
	stem := strings.TrimSuffix(filepath.Base(rel), ".json")
	if g.ID == "" {
		g.ID = stem // matchbox allows an empty id on disk; the file name is the next best name
	} else if g.ID != stem {
		log.Warn("group id differs from its file name", "file", rel, "id", g.ID)
	}
	if g.Profile == "" {
		return nil, fmt.Errorf("%s: field profile is empty", rel)
	}
	sel, err := normalizeSelector(g.Selector)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	g.Selector = sel
	return g, nil
}

// duplicate is the error for two files defining one id, named in file order.
func duplicate(what, id, a, b string) error {
	if b < a {
		a, b = b, a
	}
	return fmt.Errorf("%s id %q is defined twice: %s and %s", what, id, a, b)
}

func (st *state) loadProfiles(fsys fs.FS, log *slog.Logger) error {
	return eachJSON(fsys, "profiles", log, func(rel string, data []byte) error {
		p, err := parseProfile(rel, data, log)
		if err != nil {
			return err
		}
		if other := st.profiles[p.ID]; other != nil {
			return duplicate("profile", p.ID, other.file, rel)
		}
		st.profiles[p.ID] = p
		return nil
	})
}

// parseProfile reads one profile file; errors name it.
func parseProfile(rel string, data []byte, log *slog.Logger) (*Profile, error) {
	p := &Profile{file: rel}
	if err := decodeJSON(data, p, rel, log); err != nil {
		return nil, err
	}
	if p.ID == "" {
		return nil, fmt.Errorf("%s: field id is empty", rel)
	}
	if stem := strings.TrimSuffix(filepath.Base(rel), ".json"); p.ID != stem {
		log.Warn("profile id differs from its file name", "file", rel, "id", p.ID)
	}
	return p, nil
}

// eachJSON calls fn for every *.json file directly in sub, in name order.
func eachJSON(fsys fs.FS, sub string, log *slog.Logger, fn func(rel string, data []byte) error) error {
	entries, err := fs.ReadDir(fsys, sub)
	if errors.Is(err, fs.ErrNotExist) {
		log.Warn("data directory has no " + sub + "/ directory")
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		rel := sub + "/" + e.Name()
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || ignoredName(e.Name()) {
			log.Debug("skipping non-JSON entry", "file", rel)
			continue
		}
		data, err := fs.ReadFile(fsys, rel)
		if err != nil {
			return err
		}
		if err := fn(rel, data); err != nil {
			return err
		}
	}
	return nil
}

// decodeJSON decodes one object, warning about keys matchbox would ignore
// silently (a camelCase ignitionId, a typo) and rejecting trailing data.
func decodeJSON(data []byte, v any, rel string, log *slog.Logger) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err != nil && strings.HasPrefix(err.Error(), "json: unknown field") {
		log.Warn("ignoring unknown key", "file", rel, "reason", err.Error())
		dec = json.NewDecoder(bytes.NewReader(data))
		err = dec.Decode(v)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", rel, jsonErrorLine(data, err))
	}
	if dec.More() {
		return fmt.Errorf("%s: data after the JSON object", rel)
	}
	return nil
}

// jsonErrorLine adds the line number to encoding/json's byte offsets.
func jsonErrorLine(data []byte, err error) error {
	var off int64
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	default:
		return err
	}
	line := 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n"))
	return fmt.Errorf("line %d: %w", line, err)
}

// loadTemplates parses every file under kind/. Raw Ignition (*.ign,
// *.ignition) is validated; everything else is a Go template.
func (st *state) loadTemplates(fsys fs.FS, kind string) error {
	err := fs.WalkDir(fsys, kind, func(key string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || ignoredName(d.Name()) {
			return nil
		}
		data, err := fs.ReadFile(fsys, key)
		if err != nil {
			return err
		}
		t, raw, err := parseTemplate(key, data)
		if err != nil {
			return err
		}
		st.setTemplate(key, t, raw)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// parseTemplate reads one template file (key: kind/name): raw Ignition
// (*.ign, *.ignition) is validated, anything else is a Go template.
func parseTemplate(key string, data []byte) (*template.Template, []byte, error) {
	if strings.HasPrefix(key, kindIgnition+"/") && isRawIgnition(key) {
		if err := validateIgnition(data); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", key, err)
		}
		return nil, data, nil
	}
	t, err := template.New(key).Option("missingkey=error").Parse(string(data))
	if err != nil {
		return nil, nil, err // text/template's message names the file and line
	}
	return t, nil, nil
}

// setTemplate files a parsed template under key, replacing one of either kind.
func (st *state) setTemplate(key string, t *template.Template, raw []byte) {
	delete(st.templates, key)
	delete(st.rawIgnition, key)
	if raw != nil {
		st.rawIgnition[key] = raw
	} else {
		st.templates[key] = t
	}
}

func isRawIgnition(name string) bool {
	return strings.HasSuffix(name, ".ign") || strings.HasSuffix(name, ".ignition")
}

// ignoredName skips editor droppings so that saving a file in vim or emacs
// does not make a reload fail on a swap file.
func ignoredName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~")
}

// fingerprint summarises names, sizes and modification times of every file
// the store reads, so that a poll can tell cheaply whether to reload. It is
// a sum of one hash per file, so that a write updates it from the one file
// it changed (fileHash before and after) without walking the directory.
func fingerprint(dir string) (uint64, error) {
	if fi, err := os.Stat(dir); err != nil {
		return 0, fmt.Errorf("data directory: %w", err)
	} else if !fi.IsDir() {
		return 0, fmt.Errorf("data directory %s is not a directory", dir)
	}
	var sum uint64
	for _, sub := range []string{"groups", "profiles", kindIgnition, kindCloud, kindGeneric} {
		err := filepath.WalkDir(filepath.Join(dir, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() || ignoredName(d.Name()) {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil // removed while walking; the next poll sees the result
			}
			sum += fileHash(path, info)
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return sum, nil
}

// fileHash is one file's part of fingerprint; 0 for a file that is not there.
func fileHash(path string, info fs.FileInfo) uint64 {
	if info == nil {
		return 0
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%v\n", path, info.Size(), info.ModTime().UnixNano(), info.Mode())
	return h.Sum64()
}

// selectorString is matchbox's tie-breaker: the sorted k=v pairs, joined.
func selectorString(sel map[string]string) string {
	pairs := make([]string, 0, len(sel))
	for k, v := range sel {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}
