package sshkeys

import (
	"net"
	"strings"
	"testing"
)

func TestLoadOrCreateKeepsKeys(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreate(dir, []string{"node1", "node2"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(dir, []string{"node1", "node2"})
	if err != nil {
		t.Fatal(err)
	}
	if a.AuthorizedKey != b.AuthorizedKey || a.Hosts["node1"] != b.Hosts["node1"] {
		t.Fatal("second load made new keys")
	}
	if a.Hosts["node1"].Public == a.Hosts["node2"].Public {
		t.Fatal("two machines share a host key")
	}
	if !strings.HasPrefix(a.AuthorizedKey, "ssh-ed25519 ") || !strings.Contains(a.Hosts["node1"].Private, "OPENSSH PRIVATE KEY") {
		t.Fatalf("unexpected key forms: %q / %q", a.AuthorizedKey, a.Hosts["node1"].Private[:40])
	}
}

func TestHostKeyCallbackIsStrict(t *testing.T) {
	k, err := LoadOrCreate(t.TempDir(), []string{"node1", "node2"})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := k.HostKeyCallback("node1")
	if err != nil {
		t.Fatal(err)
	}
	addr := &net.TCPAddr{IP: net.IPv4(10, 77, 3, 11), Port: 22}
	if err := cb("node1:22", addr, k.hostPublic["node1"]); err != nil {
		t.Errorf("own host key refused: %v", err)
	}
	if err := cb("node1:22", addr, k.hostPublic["node2"]); err == nil {
		t.Error("another machine's host key accepted")
	}
	if _, err := k.HostKeyCallback("node9"); err == nil {
		t.Error("callback for an unknown machine")
	}
}
