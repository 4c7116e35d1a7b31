package bootsvc

import (
	"fmt"
	"log/slog"
	"maps"
	"strings"
)

// with returns the state as one write leaves it: the file rel holding data,
// or gone when data is nil. Only that file is parsed, and it is judged
// against st by the loader's own rules (a duplicate id, a bad template), so
// that a write that would not load is refused before anything is written.
// st is not changed; the new state shares all it can with st.
func (st *state) with(rel string, data []byte, log *slog.Logger) (*state, error) {
	next := *st
	kind, name, _ := strings.Cut(rel, "/")
	switch {
	case kind == "groups" && !strings.Contains(name, "/") && strings.HasSuffix(name, ".json"):
		old, had := st.index.files.get(rel)
		ix := st.index
		if had {
			ix = ix.without(old)
		} else if data == nil {
			return nil, fmt.Errorf("%s: %w", rel, ErrNotFound)
		}
		if data != nil {
			g, err := parseGroup(rel, data, log)
			if err != nil {
				return nil, reasonError{ErrInvalid, err}
			}
			if other, dup := ix.ids.get(g.ID); dup {
				return nil, reasonError{ErrInvalid, duplicate("group", g.ID, other.file, rel)}
			}
			ix = ix.with(g, log)
			st.warnProfile(g, log)
		}
		next.index = ix
	case kind == "profiles" && !strings.Contains(name, "/") && strings.HasSuffix(name, ".json"):
		next.profiles = maps.Clone(st.profiles)
		had := false
		for id, p := range st.profiles {
			if p.file == rel {
				delete(next.profiles, id)
				had = true
			}
		}
		if !had && data == nil {
			return nil, fmt.Errorf("%s: %w", rel, ErrNotFound)
		}
		if data != nil {
			p, err := parseProfile(rel, data, log)
			if err != nil {
				return nil, reasonError{ErrInvalid, err}
			}
			if other := next.profiles[p.ID]; other != nil {
				return nil, reasonError{ErrInvalid, duplicate("profile", p.ID, other.file, rel)}
			}
			next.profiles[p.ID] = p
			st.warnTemplates(p, log)
		}
	case kind == kindIgnition || kind == kindCloud || kind == kindGeneric:
		_, isTmpl := st.templates[rel]
		_, isRaw := st.rawIgnition[rel]
		if data == nil && !isTmpl && !isRaw {
			return nil, fmt.Errorf("%s: %w", rel, ErrNotFound)
		}
		next.templates, next.rawIgnition = maps.Clone(st.templates), maps.Clone(st.rawIgnition)
		if data == nil {
			delete(next.templates, rel)
			delete(next.rawIgnition, rel)
			break
		}
		t, raw, err := parseTemplate(rel, data)
		if err != nil {
			return nil, reasonError{ErrInvalid, err}
		}
		next.setTemplate(rel, t, raw)
	default:
		return nil, invalid("%s: not a file the data directory serves", rel)
	}
	return &next, nil
}
