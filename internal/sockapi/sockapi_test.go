package sockapi

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A socket in a directory deeper than a socket address can name (a long
// --state-dir) is served and called all the same; a refusal names the API,
// the request and the handler's words.
func TestLongPath(t *testing.T) {
	for _, depth := range []int{1, 12} {
		dir := filepath.Join(append([]string{t.TempDir()}, strings.Split(strings.Repeat("deep-directory/", depth), "/")...)...)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(dir, "api.sock")
		ln, err := Listen(sock)
		if err != nil {
			t.Fatalf("listen on %d-byte path: %v", len(sock), err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				http.Error(w, "no such fault", http.StatusNotFound)
				return
			}
			var in map[string]int
			json.NewDecoder(r.Body).Decode(&in)
			json.NewEncoder(w).Encode(map[string]int{"got": in["n"]})
		})}
		go srv.Serve(ln)
		var out map[string]int
		if err := Call(context.Background(), sock, "test API", http.MethodPut, "/x", map[string]int{"n": 7}, &out); err != nil || out["got"] != 7 {
			t.Errorf("%d-byte path: PUT = %v, %v; want got 7", len(sock), out, err)
		}
		err = Call(context.Background(), sock, "test API", http.MethodDelete, "/x", nil, &out)
		if err == nil || err.Error() != "DELETE /x: 404 Not Found: no such fault" {
			t.Errorf("DELETE: %v; want the refusal named", err)
		}
		srv.Close()
		if _, err := os.Stat(sock); err != nil {
			t.Errorf("the socket's owner removes it, not Close: %v", err)
		}
	}
	err := Call(context.Background(), filepath.Join(t.TempDir(), "none.sock"), "test API", http.MethodGet, "/x", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "test API (") {
		t.Errorf("no socket: %v; want an error naming the API", err)
	}
}
