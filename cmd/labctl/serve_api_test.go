package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The API comes with all of its TLS files or not at all.
func TestServeAPIFlags(t *testing.T) {
	data := t.TempDir()
	missing := filepath.Join(t.TempDir(), "nope.crt")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"address without CA", nil, []string{"--rpc-address", "127.0.0.1:0"}, "--rpc-address needs --ca-file (the API has no plaintext mode)"},
		{"address without key", nil, []string{"--rpc-address", "127.0.0.1:0", "--ca-file", "ca", "--cert-file", "c"}, "--rpc-address needs --key-file"},
		{"address from the environment without cert", map[string]string{"LABCTL_RPC_ADDRESS": "127.0.0.1:0", "LABCTL_CA_FILE": "ca"}, nil, "--rpc-address needs --cert-file"},
		{"TLS file without address", nil, []string{"--cert-file", "c"}, "--cert-file is given but --rpc-address is not"},
		{"unreadable certificate", nil, []string{"--rpc-address", "127.0.0.1:0", "--ca-file", missing, "--cert-file", missing, "--key-file", missing}, "API TLS: certificate " + missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			root := newRootCmd()
			root.SetArgs(append([]string{"serve", "--data", data, "--address", "127.0.0.1:0"}, tt.args...))
			err := root.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("refused serve runs wrote into the data directory: %v", entries)
	}
}
