package bootsvc

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGRUBFile: what GRUB returns for a query is what /grub answers to it,
// byte for byte, and what the endpoint refuses it refuses naming why.
func TestGRUBFile(t *testing.T) {
	s := newTestServer(t, labData, Config{})
	for _, tc := range []struct {
		name, query, err string
	}{
		{"by mac, colon form", "mac=52:54:00:a1:9c:ae&uuid=7d3c0b1e-0b6a-4d51-9c39-000000003013", ""},
		{"by selector", "os=installed", ""},
		{"no profile", "role=ghost", `names profile "missing", which does not exist`},
		{"bad mac", "mac=52:54", "bad labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.GRUB(tc.query)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("GRUB(%q) = %v, want an error containing %q", tc.query, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/grub?"+tc.query, nil))
			want, _ := io.ReadAll(rec.Result().Body)
			if rec.Code != 200 || string(got) != string(want) {
				t.Errorf("GRUB(%q) =\n%s\nthe endpoint answers %d:\n%s", tc.query, got, rec.Code, want)
			}
		})
	}
}
