package bootsvc

import (
	"net"
	"net/http"
	"path"
	"strings"

	"github.com/labctl/labctl/bootsvc/bootlog"
)

// serveEFI answers UEFI HTTP boot: the firmware fetches an EFI binary
// (iPXE) at the URL DHCP offered it, /efi/{mac}/{file}. The MAC in the path
// is how the machine log knows the machine: firmware sends no labels. The
// event says the file went over HTTP (or HTTPS); the same file over TFTP
// is in dnsmasq's log, not here.
func (s *Server) serveEFI(w http.ResponseWriter, r *http.Request) {
	mac, err := net.ParseMAC(r.PathValue("mac"))
	if err != nil || len(mac) != 6 {
		fail(w, http.StatusBadRequest, "efi: %q is not a MAC address (want /efi/52-54-00-12-34-56/ipxe.efi)", r.PathValue("mac"))
		return
	}
	file := r.PathValue("file")
	if file != path.Base(file) || !strings.HasSuffix(file, ".efi") {
		fail(w, http.StatusNotFound, "efi: %q is not an EFI binary's name", file)
		return
	}
	ri := infoFrom(w)
	ri.labels = map[string]string{"mac": mac.String()}
	f, err := s.firmware.Open(file)
	if err != nil {
		fail(w, http.StatusNotFound, "efi: no %s in the firmware directory", file)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		fail(w, http.StatusNotFound, "efi: %s is not a file", file)
		return
	}
	ri.detail = bootlog.FirmwareDetail(file, r.TLS != nil)
	// UEFI's HTTP boot takes the body as an EFI image for this type (it
	// would otherwise go by the name's extension).
	w.Header().Set("Content-Type", "application/efi")
	http.ServeContent(w, r, file, st.ModTime(), f)
}
