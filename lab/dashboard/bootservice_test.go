package dashboard

import (
	"net/http"
	"strings"
	"testing"

	"github.com/labctl/labctl/bootsvc/bootsvctest"
)

// TestStandingBootService shows a real boot service's machine log on
// /serve: a machine that asked for its boot script and reported is listed
// with its address and last event; a boot service that does not answer is
// said on the page, naming its URL; without --boot-service there is no
// such page.
func TestStandingBootService(t *testing.T) {
	_, bs := bootsvctest.Serve(t)
	for _, path := range []string{"/ipxe?mac=52-54-00-79-00-11&uuid=6f1d2c3b-79a1-4e2f-8c00-000000000011", "/report?mac=52-54-00-79-00-11&event=installed&detail=disk-vda"} {
		resp, err := http.Get(bs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	body := get(t, (&Server{Root: t.TempDir(), BootService: bs.URL}).Handler(), "/serve", nil).Body.String()
	for _, want := range []string{"The machine log of " + bs.URL, "52:54:00:79:00:11", "6f1d2c3b-79a1-4e2f-8c00-000000000011", "127.0.0.1", "report installed (204): disk-vda"} {
		if !strings.Contains(body, want) {
			t.Errorf("/serve lacks %q:\n%s", want, body)
		}
	}
	if labs := get(t, (&Server{Root: t.TempDir(), BootService: bs.URL}).Handler(), "/", nil).Body.String(); !strings.Contains(labs, `<a href="serve">its machines</a>`) {
		t.Errorf("the labs page does not link the boot service's page:\n%s", labs)
	}

	gone := bs.URL
	bs.Close()
	if body := get(t, (&Server{Root: t.TempDir(), BootService: gone}).Handler(), "/serve", nil).Body.String(); !strings.Contains(body, "The boot service does not answer: ") || !strings.Contains(body, gone) {
		t.Errorf("/serve with the boot service gone:\n%s", body)
	}
	if w := get(t, (&Server{Root: t.TempDir()}).Handler(), "/serve", nil); w.Code != http.StatusNotFound {
		t.Errorf("/serve without a boot service: %d, want 404", w.Code)
	}
}
