package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeRefusesBadData(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "groups"), 0o755)
	os.WriteFile(filepath.Join(dir, "groups", "bad.json"), []byte("{"), 0o644)
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"no data flag", "", []string{"serve"}, `"data" not set`},
		{"bad file via LABCTL_DATA", dir, []string{"serve", "--address", "127.0.0.1:0"}, "groups/bad.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("LABCTL_DATA", tt.env)
			}
			root := newRootCmd()
			root.SetArgs(tt.args)
			err := root.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
