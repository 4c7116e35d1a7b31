package dashboard

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/labctl/labctl/bootsvc/bootlog"
)

// servePage is a standing boot service's page (labctl serve): the
// machines its machine log holds, or why it could not be read.
type servePage struct {
	URL      string
	Machines []bootlog.Record
	Error    string
	Now      time.Time
}

// last is a record's latest event, or nil.
func last(r bootlog.Record) *bootlog.Event {
	if len(r.Events) == 0 {
		return nil
	}
	return &r.Events[len(r.Events)-1]
}

// servePage reads the standing boot service's machine log; a boot service
// that does not answer is said on the page, which keeps updating.
func (s *Server) servePage(ctx context.Context) *servePage {
	p := &servePage{URL: s.BootService, Now: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := &bootlog.Client{URL: s.BootService, HTTP: &http.Client{}}
	rs, err := c.Records(ctx)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	p.Machines = rs
	return p
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.render(w, "serve", s.servePage(r.Context()))
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	s.stream(w, r, func(ctx context.Context, buf *bytes.Buffer) error {
		p := s.servePage(ctx)
		return pages.ExecuteTemplate(buf, "servebody", p)
	})
}
