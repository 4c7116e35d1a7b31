// Package sshkeys makes and keeps a lab's SSH keys: the ed25519 key labctl
// logs in with, and one host key per machine, known before the machine boots.
package sshkeys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/labctl/labctl/lab"
	"golang.org/x/crypto/ssh"
)

// Keys are a lab's SSH keys.
type Keys struct {
	Client        ssh.Signer         // labctl's login key
	AuthorizedKey string             // Client's public key, authorized_keys form
	Hosts         map[string]HostKey // by machine name
	hostPublic    map[string]ssh.PublicKey
}

// HostKey is one machine's host key pair in the forms Ignition writes.
type HostKey struct {
	Private string // OpenSSH private key PEM, for /etc/ssh/ssh_host_ed25519_key
	Public  string // "ssh-ed25519 AAAA...", for ssh_host_ed25519_key.pub
}

// LoadOrCreate reads the keys kept in dir, making whichever are missing, so
// a lab keeps its keys across `labctl up` runs and `labctl ssh` finds them.
func LoadOrCreate(dir string, machines []string) (*Keys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ssh key directory: %w", err)
	}
	k := &Keys{Hosts: map[string]HostKey{}, hostPublic: map[string]ssh.PublicKey{}}
	signer, pub, err := loadOrCreate(filepath.Join(dir, "id_ed25519"), "labctl")
	if err != nil {
		return nil, err
	}
	k.Client, k.AuthorizedKey = signer, pub
	for _, m := range machines {
		path := filepath.Join(dir, "host_"+m+"_ed25519")
		signer, pubLine, err := loadOrCreate(path, m)
		if err != nil {
			return nil, err
		}
		priv, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		k.Hosts[m] = HostKey{Private: string(priv), Public: pubLine}
		k.hostPublic[m] = signer.PublicKey()
	}
	return k, nil
}

// HostKeyCallback accepts exactly the host key made for machine: a machine
// that presents any other key fails, whatever its address.
func (k *Keys) HostKeyCallback(machine string) (ssh.HostKeyCallback, error) {
	pub, ok := k.hostPublic[machine]
	if !ok {
		return nil, fmt.Errorf("no host key for machine %s", machine)
	}
	return ssh.FixedHostKey(pub), nil
}

func loadOrCreate(path, comment string) (ssh.Signer, string, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, "", err
		}
		block, err := ssh.MarshalPrivateKey(priv, comment)
		if err != nil {
			return nil, "", err
		}
		raw = pem.EncodeToMemory(block)
		// Write to a temporary name first: an interrupted run must not leave
		// a truncated key that a later run would fail to parse.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, raw, 0o600); err != nil {
			return nil, "", err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, "", err
		}
	} else if err != nil {
		return nil, "", err
	}
	signer, err := ssh.ParsePrivateKey(raw)
	if err != nil {
		return nil, "", fmt.Errorf("parse %s: %w", path, err)
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	return signer, pub, nil
}

// ForLab returns the lab's keys, made on first use and kept in its SSH
// directory until the lab goes down.
func ForLab(l *lab.Lab) (*Keys, error) {
	names := make([]string, len(l.Machines))
	for i, m := range l.Machines {
		names[i] = m.Name
	}
	keys, err := LoadOrCreate(l.SSHDir(), names)
	if err != nil {
		return nil, fmt.Errorf("lab %s: ssh keys: %w", l.Name, err)
	}
	return keys, nil
}
