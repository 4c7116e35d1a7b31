package check

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/lab"
)

// matches says whether the boot service's record rec is machine m's.
func matches(rec bootsvc.Machine, m lab.Machine) bool {
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

func (h HTTPBootLog) Machines(ctx context.Context) ([]bootsvc.Machine, error) {
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
	var ms []bootsvc.Machine
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, fmt.Errorf("boot service machine log: %w", err)
	}
	return ms, nil
}
