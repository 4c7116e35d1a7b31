package bootsvc

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// pixiecoreBoot is Pixiecore's API-mode answer: what to boot, as absolute URLs.
type pixiecoreBoot struct {
	Kernel  string   `json:"kernel"`
	Initrd  []string `json:"initrd"`
	Cmdline string   `json:"cmdline"`
}

// servePixiecore answers Pixiecore's API mode, GET /pixiecore/v1/boot/MAC
// (bootcfg, matchbox's ancestor, served it): the profile /ipxe?mac=MAC would
// get, so Pixiecore can do DHCP and TFTP while labctl decides what boots.
func (s *Server) servePixiecore(w http.ResponseWriter, r *http.Request) {
	mac, err := normalizeMAC(r.PathValue("mac"))
	if err != nil {
		fail(w, http.StatusBadRequest, "pixiecore: %v", err)
		return
	}
	// Selected exactly as /ipxe?mac=MAC, with its log line and machine event.
	sel := *r
	u := *r.URL
	u.RawQuery = "mac=" + mac
	sel.URL = &u
	_, _, p, ok := s.selectProfile(w, &sel)
	if !ok {
		return
	}
	if p.Boot.Kernel == "" {
		fail(w, http.StatusInternalServerError, "profile %s (%s) has no boot.kernel", p.ID, p.file)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := &url.URL{Scheme: scheme, Host: r.Host, Path: "/"}
	out := pixiecoreBoot{Kernel: absoluteURL(base, p.Boot.Kernel), Initrd: []string{}, Cmdline: strings.Join(p.Boot.Args, " ")}
	for _, i := range p.Boot.Initrd {
		out.Initrd = append(out.Initrd, absoluteURL(base, initrdURL(i)))
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // kernel arguments often hold URLs with '&'
	enc.Encode(out)
}

// initrdURL drops the iPXE options an initrd entry may carry
// ("--name main /assets/initrd.img"), which Pixiecore does not take.
func initrdURL(entry string) string {
	fields := strings.Fields(entry)
	if len(fields) == 0 {
		return entry
	}
	return fields[len(fields)-1]
}

// absoluteURL resolves a profile's path (/assets/...) against the URL the
// request came to; absolute URLs stay as they are.
func absoluteURL(base *url.URL, ref string) string {
	u, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return base.ResolveReference(u).String()
}
