package bootsvc

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labctl/labctl/bootsvc/bootlog"
)

// UEFI HTTP boot: the EFI binary goes out as application/efi, and the
// machine log records the fetch under the MAC in the path, over http.
func TestServeEFI(t *testing.T) {
	s := newTestServer(t, labData, Config{FirmwareDir: t.TempDir()})
	writeTree(t, s.cfg.FirmwareDir, map[string]string{"ipxe.efi": "MZ efi binary", "undionly.kpxe": "pxe"})
	tests := []struct {
		path string
		code int
		body string
	}{
		{"/efi/52-54-00-77-30-13/ipxe.efi", 200, "MZ efi binary"},
		{"/efi/52-54-00-77-30-13/undionly.kpxe", 404, `efi: "undionly.kpxe" is not an EFI binary's name`},
		{"/efi/52-54-00-77-30-13/snponly.efi", 404, "efi: no snponly.efi in the firmware directory"},
		{"/efi/not-a-mac/ipxe.efi", 400, `efi: "not-a-mac" is not a MAC address`},
	}
	for _, tt := range tests {
		code, body := get(t, s.Handler(), tt.path)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.code, tt.body)
		}
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/efi/52-54-00-77-30-13/ipxe.efi", nil))
	if ct := w.Header().Get("Content-Type"); ct != "application/efi" {
		t.Errorf("Content-Type %q, want application/efi", ct)
	}
	var fw []bootlog.Event
	for _, r := range s.Machines() {
		if r.MAC != "52:54:00:77:30:13" {
			t.Errorf("a machine %q in the log, want 52:54:00:77:30:13 only", r.MAC)
		}
		for _, e := range r.Events {
			if e.Kind == bootlog.KindFirmware && e.Status == 200 {
				fw = append(fw, e)
			}
		}
	}
	if len(fw) != 2 || fw[0].Path != "/efi/52-54-00-77-30-13/ipxe.efi" || fw[0].Detail != "ipxe.efi over http" {
		t.Errorf("firmware events %+v, want two fetches of ipxe.efi over http", fw)
	}
}

// Without a firmware directory there is no /efi/.
func TestServeEFIDisabled(t *testing.T) {
	s := newTestServer(t, labData, Config{})
	if code, _ := get(t, s.Handler(), "/efi/52-54-00-77-30-13/ipxe.efi"); code != 404 {
		t.Errorf("status %d, want 404", code)
	}
}
