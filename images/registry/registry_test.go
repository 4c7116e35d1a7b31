package registry

import (
	"strings"
	"testing"

	"github.com/labctl/labctl/images"
)

func TestRecipe(t *testing.T) {
	if got := strings.Join(Names(), ","); got != "k8s,labos,labos-k8s,smoke" {
		t.Errorf("Names() = %s", got)
	}
	for _, tt := range []struct {
		name string
		opts images.Options
		want string
	}{
		{"ubuntu", images.Options{}, `no image "ubuntu": the images are k8s, labos, labos-k8s, smoke`},
		{"smoke", images.Options{Packages: []string{"curl"}}, "image smoke takes no packages or versions"},
		{"labos", images.Options{Versions: map[string]string{"kubernetes": "v1.31.2"}}, "image labos pins no versions"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Recipe(tt.name, tt.opts); err == nil || err.Error() != tt.want {
				t.Errorf("Recipe(%s) error %v, want %q", tt.name, err, tt.want)
			}
		})
	}
}

// TestPackagesChangeKey: extra packages are inputs, so they make another image.
func TestPackagesChangeKey(t *testing.T) {
	plain, err := Recipe("labos", images.Options{})
	if err != nil {
		t.Fatalf("labos recipe (it reads the apt sources of this Debian machine): %v", err)
	}
	extra, err := Recipe("labos", images.Options{Packages: []string{"jq"}})
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := plain.Key()
	k2, _ := extra.Key()
	if k1 == k2 {
		t.Errorf("labos with jq has the key of plain labos (%s)", k1)
	}
}
