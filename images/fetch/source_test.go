package fetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// A partial file whose server ignores Range (200, whole body) or no longer
// matches it (416 for a longer file) is started over, not appended to.
func TestHTTPGetRestarts(t *testing.T) {
	body := []byte("the whole file")
	tests := []struct {
		name    string
		partial string
		handler http.HandlerFunc
		wantErr bool
	}{
		{name: "server ignores Range", partial: "stale bytes",
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write(body) }},
		{name: "partial longer than the file", partial: "a partial file longer than the file on the server", wantErr: true,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Range", "bytes */14")
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			dst := filepath.Join(t.TempDir(), "f")
			os.WriteFile(dst, []byte(tt.partial), 0o644)
			err := (&HTTP{Attempts: 1}).Get(context.Background(), srv.URL+"/f", dst, nil)
			got, _ := os.ReadFile(dst)
			if tt.wantErr {
				if err == nil || len(got) != 0 {
					t.Fatalf("err %v, file %q: want an error and an emptied file", err, got)
				}
				return
			}
			if err != nil || string(got) != string(body) {
				t.Fatalf("err %v, file %q", err, got)
			}
		})
	}
}
