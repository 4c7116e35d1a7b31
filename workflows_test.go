// The GitHub workflows are code too: make check lints them with actionlint
// (as a library, from the module proxy), so a broken workflow fails here
// rather than at night on a runner.
package labctl_test

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// linter runs actionlint's own checks (syntax, expressions and their types,
// action inputs, runner labels, cron); shellcheck and pyflakes stay off so
// the result does not depend on what else the machine has installed.
func linter(t *testing.T) *actionlint.Linter {
	t.Helper()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestWorkflowsLint(t *testing.T) {
	files, err := filepath.Glob(".github/workflows/*.yml")
	if err != nil || len(files) < 2 {
		t.Fatalf("workflows %v, %v: want the nightly and the check workflow", files, err)
	}
	errs, err := linter(t).LintFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Error(e)
	}
}

// The linter in this test does catch mistakes: a workflow with some is refused.
func TestWorkflowsLintCatches(t *testing.T) {
	bad := []byte(`on: {schedule: [{cron: "61 2 * * *"}]}
jobs:
  j:
    runs-on: ubuntu-24.04
    steps:
      - run: echo ${{ github.nosuchfield }}
`)
	errs, err := linter(t).Lint("bad.yml", bad, nil)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"invalid CRON format", `property "nosuchfield" is not defined`} {
		if !strings.Contains(all, want) {
			t.Errorf("errors:\n%s\nwant one containing %q", all, want)
		}
	}
}
