package check

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labctl/labctl/lab"
)

// Machine is one machine as the boot service's GET /machines reports it.
type Machine struct {
	MAC    string  `json:"mac"`
	UUID   string  `json:"uuid"`
	Events []Event `json:"events"`
}

// Event is one thing a machine fetched or reported.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Path   string    `json:"path"`
	Event  string    `json:"event"` // a report's event name
	Status int       `json:"status"`
	Detail string    `json:"detail"`
}

// Name is a report's event name.
func (e Event) Name() string { return e.Event }

// Is says whether the record is machine m's.
func (rec Machine) Is(m lab.Machine) bool {
	if mac, err := net.ParseMAC(rec.MAC); err == nil && mac.String() == m.MAC.String() {
		return true
	}
	return rec.UUID != "" && strings.EqualFold(rec.UUID, m.UUID)
}

// HTTPBootLog reads GET <base>/machines with client (which, for a lab, dials
// inside the lab's namespace).
type HTTPBootLog struct {
	Client *http.Client
	Base   string // e.g. http://10.77.0.1:8080
}

func (h HTTPBootLog) Machines(ctx context.Context) ([]Machine, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.Base+"/machines", nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("boot service machine log: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("boot service machine log: GET %s: %s", req.URL, resp.Status)
	}
	var ms []Machine
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, fmt.Errorf("boot service machine log: %w", err)
	}
	return ms, nil
}
