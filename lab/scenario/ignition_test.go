package scenario

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/lab/sshkeys"
)

// The online scenarios' machines get a valid Ignition config from the real
// boot service: a template error shows here, not on a console minutes into
// a nightly run (these scenarios cannot run without the internet).
func TestOnlineIgnitionRenders(t *testing.T) {
	for _, name := range []string{"flatcar-etcd3", "fcos-etcd3"} {
		t.Run(name, func(t *testing.T) {
			s, err := Find(name)
			if err != nil {
				t.Fatal(err)
			}
			l := s.Lab(t.TempDir(), "ns")
			names := make([]string, len(l.Machines))
			for i, m := range l.Machines {
				names[i] = m.Name
			}
			keys, err := sshkeys.LoadOrCreate(t.TempDir(), names)
			if err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(t.TempDir(), "data")
			boot := "http://" + l.Network.Gateway.String() + ":8080"
			if err := s.WriteData(data, l, boot, keys, nil); err != nil {
				t.Fatal(err)
			}
			srv, err := bootsvc.New(bootsvc.Config{DataDir: data, AssetsDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			for _, m := range l.Machines {
				mac := strings.ReplaceAll(m.MAC.String(), ":", "-")
				resp, err := http.Get(ts.URL + "/ignition?uuid=" + m.UUID + "&mac=" + mac)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var cfg struct {
					Ignition struct{ Version string }
				}
				if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &cfg) != nil || cfg.Ignition.Version == "" {
					t.Fatalf("%s: /ignition: %s %s", m.Name, resp.Status, body)
				}
				if !strings.Contains(string(body), m.Name) {
					t.Errorf("%s: config does not name the machine: %s", m.Name, body)
				}
			}
		})
	}
}
