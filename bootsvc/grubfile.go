package bootsvc

import (
	"bytes"
	"fmt"
)

// GRUB is the /grub answer for the machine that these labels (a query such
// as "mac=52:54:00:77:30:13&uuid=…") select. It is for machines whose GRUB
// cannot ask over HTTP (every Debian-signed GRUB lacks the http module, and
// Secure Boot refuses loading it): labctl writes the answer where their
// GRUB reads over TFTP.
func (s *Server) GRUB(query string) ([]byte, error) {
	labels, err := parseLabels(query)
	if err != nil {
		return nil, fmt.Errorf("grub for %q: bad labels: %w", query, err)
	}
	st := s.state.Load()
	g, ok := st.index.selectGroup(labels)
	if !ok {
		return nil, fmt.Errorf("grub: no group matches labels {%s}", labelString(labels))
	}
	p := st.profiles[g.Profile]
	switch {
	case p == nil:
		return nil, fmt.Errorf("grub: group %s (%s) names profile %q, which does not exist", g.ID, g.file, g.Profile)
	case p.Boot.Kernel == "":
		return nil, fmt.Errorf("grub: profile %s (%s) has no boot.kernel", p.ID, p.file)
	}
	var buf bytes.Buffer
	renderGRUB(&buf, p.Boot)
	return buf.Bytes(), nil
}
