package bootsvc

import (
	"maps"
	"net"
	"net/url"
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    map[string]string
		wantErr string
	}{
		{name: "empty", query: "", want: map[string]string{}},
		{name: "hyphen MAC upper case", query: "mac=52-54-00-A1-9C-AE", want: map[string]string{"mac": "52:54:00:a1:9c:ae"}},
		{name: "colon MAC", query: "mac=52:54:00:a1:9c:ae", want: map[string]string{"mac": "52:54:00:a1:9c:ae"}},
		{name: "dotted MAC", query: "mac=5254.00a1.9cae", want: map[string]string{"mac": "52:54:00:a1:9c:ae"}},
		{name: "MAC key keeps its case", query: "MAC=52-54-00-A1-9C-AE", want: map[string]string{"MAC": "52:54:00:a1:9c:ae"}},
		{name: "empty MAC is unknown", query: "mac=&uuid=", want: map[string]string{"uuid": ""}},
		{name: "iPXE's full query", query: "uuid=0D5A8C0E-0000-4000-8000-000000000001&mac=52-54-00-a1-9c-ae&domain=&hostname=&serial=&arch=x86_64",
			want: map[string]string{"uuid": "0D5A8C0E-0000-4000-8000-000000000001", "mac": "52:54:00:a1:9c:ae", "domain": "", "hostname": "", "serial": "", "arch": "x86_64"}},
		{name: "first value wins", query: "os=a&os=b", want: map[string]string{"os": "a"}},
		{name: "free-form labels case-sensitive", query: "Region=EU&os=installed", want: map[string]string{"Region": "EU", "os": "installed"}},
		{name: "bad MAC", query: "mac=52-54-00", wantErr: `label mac: invalid MAC "52-54-00"`},
		{name: "bad UUID", query: "uuid=not-a-uuid", wantErr: `label uuid: "not-a-uuid" is not a UUID`},
		{name: "bad escape", query: "os=%zz", wantErr: `query: invalid URL escape "%zz"`},
		{name: "bad escape in a key", query: "o%s=x", wantErr: `query: invalid URL escape "%s"`},
		{name: "semicolon", query: "os=a;b", wantErr: "query: invalid semicolon separator in query"},
		{name: "escapes and plus", query: "h%6Fst=a+b%2Fc&&=&x", want: map[string]string{"host": "a b/c", "": "", "x": ""}},
		{name: "oversized", query: "x=" + strings.Repeat("a", maxQueryBytes), wantErr: "more than the limit"},
		{name: "too many labels", query: manyLabels(maxLabels + 1), wantErr: "more than the limit of 64 labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLabels(tt.query)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("labels = %v, want %v", got, tt.want)
			}
		})
	}
}

func manyLabels(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString("k")
		b.WriteString(strings.Repeat("x", i))
		b.WriteString("=v")
	}
	return b.String()
}

func TestNormalizeSelector(t *testing.T) {
	tests := []struct {
		name    string
		sel     map[string]string
		want    map[string]string
		wantErr bool
	}{
		{name: "hyphen upper", sel: map[string]string{"mac": "52-54-00-A1-9C-AE"}, want: map[string]string{"mac": "52:54:00:a1:9c:ae"}},
		{name: "key case kept", sel: map[string]string{"Mac": "52:54:00:A1:9C:AE", "os": "installed"}, want: map[string]string{"Mac": "52:54:00:a1:9c:ae", "os": "installed"}},
		{name: "other values untouched", sel: map[string]string{"uuid": "ABC", "hostname": "Node1"}, want: map[string]string{"uuid": "ABC", "hostname": "Node1"}},
		{name: "bad MAC", sel: map[string]string{"mac": "nope"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := normalizeSelector(tt.sel)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !maps.Equal(got, tt.want) {
				t.Errorf("selector = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzParseLabels: parsing never panics, reads a query as url.ParseQuery
// does (first value of each key), and what it accepts is normalised: every
// MAC label is in lower-case colon form and parses again to itself.
func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{"", "mac=52-54-00-A1-9C-AE&uuid=", "uuid=0d5a8c0e-0000-4000-8000-000000000001", "os=%zz", "a=b&a=c&MAC=5254.00a1.9cae", "mac=00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		labels, err := parseLabels(q)
		values, perr := url.ParseQuery(q)
		if perr != nil && err == nil {
			t.Fatalf("parseLabels(%q) accepted what url.ParseQuery refuses: %v", q, perr)
		}
		if err != nil {
			return
		}
		for k, vs := range values {
			if v, ok := labels[k]; ok && !strings.EqualFold(k, "mac") && v != vs[0] {
				t.Fatalf("label %q = %q, url.ParseQuery's first value %q", k, v, vs[0])
			}
			if _, ok := labels[k]; !ok && !(strings.EqualFold(k, "mac") && vs[0] == "") {
				t.Fatalf("label %q missing (url.ParseQuery: %q)", k, vs)
			}
		}
		if len(labels) > len(values) {
			t.Fatalf("labels %v, url.ParseQuery %v", labels, values)
		}
		for k, v := range labels {
			if strings.EqualFold(k, "mac") {
				again, err := normalizeMAC(v)
				if err != nil || again != v {
					t.Fatalf("label %s=%q is not normalised (again %q, %v)", k, v, again, err)
				}
			}
		}
	})
}

// FuzzNormalizeMAC48 holds the short path to net.ParseMAC and
// HardwareAddr.String: the same MAC where it answers.
func FuzzNormalizeMAC48(f *testing.F) {
	for _, s := range []string{"52-54-00-A1-9C-AE", "52:54:00:a1:9c:ae", "52-54:00-a1-9c-ae", "52.54.00.a1.9c.ae", "5254.00a1.9cae", "52-54-00-a1-9c-ag", "52-54-00-a1-9c-a\xe9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mac, ok := normalizeMAC48(s)
		if !ok {
			return
		}
		hw, err := net.ParseMAC(s)
		if err != nil || hw.String() != mac {
			t.Fatalf("normalizeMAC48(%q) = %q; net.ParseMAC: %v, %v", s, mac, hw, err)
		}
	})
}
