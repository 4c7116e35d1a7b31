package k8s

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBuildModule(t *testing.T) {
	upstream := []byte(`module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
	k8s.io/api v0.0.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
)
`)
	got, err := BuildModule(upstream, "v1.34.4")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"module labctl.local/k8sbuild\n", "\ngo 1.24.0\n", "\ngodebug default=go1.24\n",
		"\nrequire k8s.io/kubernetes v1.34.4\n",
		"\nreplace k8s.io/api => k8s.io/api v0.34.4\n",
		"\nreplace k8s.io/client-go => k8s.io/client-go v0.34.4\n",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("build module lacks %q:\n%s", want, got)
		}
	}
	for _, tc := range []struct {
		name, upstream, version, want string
	}{
		{"not a release", string(upstream), "v1.34", `version "v1.34" is not a release`},
		{"no staging", "module k8s.io/kubernetes\n\ngo 1.24.0\n", "v1.34.4", "no ./staging replace lines"},
		{"no go line", "replace k8s.io/api => ./staging/src/k8s.io/api\n", "v1.34.4", "no go line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildModule([]byte(tc.upstream), tc.version)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLDFlagsStampBothVersionPackages(t *testing.T) {
	f := LDFlags("v1.34.4", time.Unix(0, 0))
	for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		for _, kv := range []string{".gitVersion=v1.34.4", ".gitMajor=1", ".gitMinor=34", ".gitTreeState=clean", ".buildDate=1970-01-01T00:00:00Z"} {
			if !strings.Contains(f, "-X "+pkg+kv) {
				t.Errorf("ldflags lack %s%s: %s", pkg, kv, f)
			}
		}
	}
}

func TestNewRecipeRefusesBadVersion(t *testing.T) {
	_, err := NewRecipe(Options{Version: "1.34.4"})
	if err == nil || !strings.Contains(err.Error(), `kubernetes version "1.34.4": want a release such as v1.34.4`) {
		t.Fatalf("err = %v", err)
	}
}

// kube/main.go stays out of labctl's module by its "ignore" constraint (the
// build removes that line) and answers to exactly the names the image links.
func TestKubeMainAnswersToEveryCommand(t *testing.T) {
	raw, err := sources.ReadFile("kube/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "//go:build ignore\n") {
		t.Errorf("kube/main.go does not start with the line writeBuildModule removes")
	}
	names := regexp.MustCompile(`(?m)^\t"([a-z-]+)":\s+func\(\) int`).FindAllStringSubmatch(string(raw), -1)
	var got []string
	for _, n := range names {
		got = append(got, n[1])
	}
	if !slices.Equal(got, Commands) {
		t.Errorf("kube/main.go's commands %v, want Commands %v (same order)", got, Commands)
	}
}
