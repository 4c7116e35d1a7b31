// Package bootsvctest starts a real boot service for tests that need one
// to answer machines and keep their log.
package bootsvctest

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/labctl/labctl/bootsvc"
)

// Serve starts a boot service over HTTP whose data directory gives every
// machine profile p (kernel /k) and whose firmware directory holds an
// ipxe.efi (UEFI HTTP boot), closed when the test ends.
func Serve(t testing.TB) (*bootsvc.Server, *httptest.Server) {
	t.Helper()
	data := t.TempDir()
	for name, content := range map[string]string{
		"groups/default.json": `{"id":"default","profile":"p"}`,
		"profiles/p.json":     `{"id":"p","boot":{"kernel":"/k"}}`,
	} {
		p := filepath.Join(data, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fw := t.TempDir()
	if err := os.WriteFile(filepath.Join(fw, "ipxe.efi"), []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	svc, err := bootsvc.New(bootsvc.Config{DataDir: data, FirmwareDir: fw})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return svc, srv
}
