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
		env  map[string]string
		args []string
		want string
	}{
		{"no data flag", nil, []string{"serve"}, `"data" not set`},
		{"bad file via LABCTL_DATA", map[string]string{"LABCTL_DATA": dir}, []string{"serve", "--address", "127.0.0.1:0"}, "groups/bad.json"},
		{"no machines kept", nil, []string{"serve", "--data", dir, "--max-machines", "0"}, "--max-machines: 0 is not a positive number"},
		{"LABCTL_MAX_MACHINES not a number", map[string]string{"LABCTL_MAX_MACHINES": "many"}, []string{"serve", "--data", dir}, "environment variable LABCTL_MAX_MACHINES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
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
