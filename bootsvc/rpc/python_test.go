package rpc_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
)

// Debian's grpcio, with stubs protoc makes from the project's .proto files
// at test time, puts a group and a profile over mutual TLS; /ipxe serves them.
func TestPythonClient(t *testing.T) {
	const python = "/usr/bin/python3" // Debian's, where python3-grpcio is
	tools := map[string]string{
		"protoc":             testenv.Tool(t, "protoc", "protobuf-compiler"),
		"grpc_python_plugin": testenv.Tool(t, "grpc_python_plugin", "protobuf-compiler-grpc"),
	}
	testenv.PythonModule(t, python, "grpc", "python3-grpcio")
	testenv.PythonModule(t, python, "google.protobuf", "python3-protobuf")
	stubs := t.TempDir()
	protoc := exec.Command("protoc", "-I", ".", "--python_out="+stubs, "--grpc_python_out="+stubs,
		"--plugin=protoc-gen-grpc_python="+tools["grpc_python_plugin"],
		"storagepb/storage.proto", "serverpb/messages.proto", "rpcpb/rpc.proto")
	if out, err := protoc.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}

	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script, _ := filepath.Abs("testdata/client.py")
	cmd := exec.CommandContext(ctx, python, script, f.addr, f.ca.file, f.clientCert, f.clientKey)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+stubs)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("Python client: %v\n%s", err, out)
	}

	want := "#!ipxe\nkernel /assets/py-kernel console=ttyS0 py=1\ninitrd /assets/py-initrd\nboot\n"
	if code, body := f.get(t, "/ipxe?mac=52-54-00-00-00-99"); code != http.StatusOK || body != want {
		t.Errorf("GET /ipxe = %d %q, want 200 %q", code, body, want)
	}
	if got := f.file(t, "groups/py-group.json"); !strings.Contains(got, "\"metadata\": {\n\t\t\"from\": \"python\"\n\t}") {
		t.Errorf("groups/py-group.json = %s", got)
	}
}
