package bootsvc

import (
	"maps"
	"strings"
	"testing"
)

// TestExamples serves the bundled example data, as `labctl serve` does out
// of the box, and fetches every kind of config from it.
func TestExamples(t *testing.T) {
	s, err := New(Config{DataDir: "examples", AssetsDir: "examples/assets", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, tt := range []struct{ path, want string }{
		{"/ipxe?mac=52-54-00-A1-9C-AE", "ignition.config.url="},
		{"/grub?os=installed", "root=/dev/vda1"},
		{"/ignition?mac=52:54:00:a1:9c:ae", `"version":"3.3.0"`},
		{"/ignition?os=installed", `"version": "3.3.0"`},
		{"/cloud?mac=52:54:00:a1:9c:ae", "hostname: node1"},
		{"/generic?mac=52:54:00:00:00:07", "MAC=52:54:00:00:00:07"},
		{"/metadata?mac=52:54:00:a1:9c:ae", "HOSTNAME=node1"},
		{"/assets/README.txt", "served at /assets/"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			code, body := get(t, h, tt.path)
			if code != 200 || !strings.Contains(body, tt.want) {
				t.Errorf("%d %q, want 200 containing %q", code, body, tt.want)
			}
		})
	}
}

func TestTemplateData(t *testing.T) {
	g := &Group{
		Selector: map[string]string{"MAC": "52:54:00:a1:9c:ae", "os": "installed"},
		Metadata: map[string]any{"os": "from-metadata", "mac": "meta-mac", "request": "lost", "n": 3.0},
	}
	labels := map[string]string{"MAC": "52:54:00:a1:9c:ae", "os": "installed"}
	data := templateData(g, labels, "MAC=52-54-00-A1-9C-AE&os=installed")
	tests := []struct {
		key  string
		want any
	}{
		{"os", "installed"},          // selectors override metadata
		{"mac", "52:54:00:a1:9c:ae"}, // with their key lower-cased
		{"n", 3.0},                   // metadata stays at the top level
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if data[tt.key] != tt.want {
				t.Errorf("data[%q] = %v, want %v", tt.key, data[tt.key], tt.want)
			}
		})
	}
	req := data["request"].(map[string]any)
	if !maps.Equal(req["query"].(map[string]string), labels) || req["raw_query"] != "MAC=52-54-00-A1-9C-AE&os=installed" {
		t.Errorf("request = %v (metadata's request must be replaced; raw_query verbatim)", req)
	}
}
