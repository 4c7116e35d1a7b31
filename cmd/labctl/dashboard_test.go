package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The dashboard refuses to start on an open address without a token, and
// a bad token input, naming the flag; it prints no address it will not serve.
func TestDashboardRefusals(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "0.0.0.0:0"}, "--listen 0.0.0.0:0 is not a loopback address: give --token or --token-file"},
		{[]string{"--token-file", empty}, "--token-file " + empty + ": empty"},
		{[]string{"--token-file", filepath.Join(dir, "nope")}, "--token-file: open " + filepath.Join(dir, "nope")},
		{[]string{"--token", "a", "--token-file", empty}, "--token and --token-file: give one"},
		{[]string{"--listen", "256.0.0.1:0", "--token", "a"}, "--listen 256.0.0.1:0: "},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newRootCmd()
			var out bytes.Buffer
			cmd.SetArgs(append([]string{"dashboard", "--state-dir", dir}, tc.args...))
			cmd.SetOut(&out)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("labctl dashboard %v: %v, want an error containing %q", tc.args, err, tc.want)
			}
			if out.Len() > 0 {
				t.Errorf("printed %q before refusing", out.String())
			}
		})
	}
}
