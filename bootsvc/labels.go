package bootsvc

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Limits on a request's labels: iPXE sends six short ones, so anything near
// these is a mistake or an attack, answered with 400.
const (
	maxQueryBytes = 4096
	maxLabels     = 64
)

// parseLabels turns a query string into labels the way matchbox does (first
// value of each key, keys case-sensitive, any key spelled "mac" in any case
// normalised to lower-case colon form), but refuses what matchbox silently
// drops: unparsable MACs and UUIDs, bad escapes, oversized queries. It
// reads the query as url.ParseQuery does, without building url.Values: it
// runs on every request.
func parseLabels(rawQuery string) (map[string]string, error) {
	if len(rawQuery) > maxQueryBytes {
		return nil, fmt.Errorf("query is %d bytes, more than the limit of %d", len(rawQuery), maxQueryBytes)
	}
	labels := make(map[string]string, 8)
	var unknownMAC []string // keys whose first value was an empty MAC
	for q := rawQuery; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if strings.Contains(pair, ";") {
			return nil, fmt.Errorf("query: invalid semicolon separator in query")
		}
		if pair == "" {
			continue
		}
		key, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(key)
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		if _, ok := labels[key]; ok || slices.Contains(unknownMAC, key) {
			continue // the first value wins
		}
		switch strings.ToLower(key) {
		case "mac":
			if v == "" {
				// iPXE sends an empty value when it has none; that is "unknown", not an error
				unknownMAC = append(unknownMAC, key)
				continue
			}
			mac, err := normalizeMAC(v)
			if err != nil {
				return nil, fmt.Errorf("label %s: %w", key, err)
			}
			v = mac
		case "uuid":
			if v != "" && !isUUID(v) {
				return nil, fmt.Errorf("label %s: %q is not a UUID (want 8-4-4-4-12 hex digits)", key, v)
			}
		}
		labels[key] = v
		if n := len(labels) + len(unknownMAC); n > maxLabels {
			return nil, fmt.Errorf("query has more than the limit of %d labels", maxLabels)
		}
	}
	return labels, nil
}

// normalizeMAC accepts every form net.ParseMAC does (52-54-00-..,
// 52:54:00:.., 5254.00..) and returns lower-case colon form.
func normalizeMAC(s string) (string, error) {
	if mac, ok := normalizeMAC48(s); ok {
		return mac, nil
	}
	hw, err := net.ParseMAC(s)
	if err != nil {
		return "", fmt.Errorf("invalid MAC %q", s)
	}
	return hw.String(), nil
}

// normalizeMAC48 is normalizeMAC for the form iPXE sends (52-54-00-..)
// and the colon form, with one allocation where net.ParseMAC and
// HardwareAddr.String make two; ok is false for any other input.
func normalizeMAC48(s string) (mac string, ok bool) {
	if len(s) != len("52:54:00:a1:9c:ae") || s[2] != ':' && s[2] != '-' {
		return "", false
	}
	var out [len("52:54:00:a1:9c:ae")]byte
	for i := range len(s) {
		c := s[i]
		switch {
		case i%3 == 2:
			if c != s[2] {
				return "", false
			}
			c = ':'
		case 'A' <= c && c <= 'F':
			c += 'a' - 'A'
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f'):
			return "", false
		}
		out[i] = c
	}
	return string(out[:]), true
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// normalizeSelector rewrites MAC selector values as labels are rewritten, so
// that 52-54-00-A1-9C-AE in a group matches 52:54:00:a1:9c:ae in a request.
func normalizeSelector(sel map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(sel))
	for k, v := range sel {
		if strings.EqualFold(k, "mac") {
			mac, err := normalizeMAC(v)
			if err != nil {
				return nil, fmt.Errorf("selector %s: %w", k, err)
			}
			v = mac
		}
		out[k] = v
	}
	return out, nil
}

// matches reports whether every selector equals the label of the same key.
func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}
