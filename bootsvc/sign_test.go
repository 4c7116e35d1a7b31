package bootsvc

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// newKey writes a fresh secret key to a file, armored or binary, encrypted
// with pass when pass is not empty, and returns the file and the public ring.
func newKey(t *testing.T, armored bool, pass string) (string, openpgp.EntityList) {
	t.Helper()
	e, err := openpgp.NewEntity("labctl test", "do not use", "test@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if pass != "" {
		if err := e.EncryptPrivateKeys([]byte(pass), nil); err != nil {
			t.Fatal(err)
		}
	}
	if armored {
		a, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SerializePrivateWithoutSigning(a, nil); err != nil {
			t.Fatal(err)
		}
		a.Close()
	} else if err := e.SerializePrivateWithoutSigning(&buf, nil); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, openpgp.EntityList{e}
}

func TestSignatures(t *testing.T) {
	tests := []struct {
		name    string
		armored bool
		pass    string
	}{
		{"binary key", false, ""},
		{"armored key", true, ""},
		{"encrypted key", true, "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, ring := newKey(t, tt.armored, tt.pass)
			t.Setenv(PassphraseEnv, tt.pass)
			h := newTestServer(t, labData, Config{SignKeyFile: key}).Handler()
			for _, ep := range []string{"/boot.ipxe", "/boot.ipxe.0", "/ipxe?os=installed", "/grub?os=installed", "/ignition?mac=52:54:00:a1:9c:ae",
				"/cloud?mac=52:54:00:a1:9c:ae", "/generic?mac=52:54:00:a1:9c:ae", "/metadata?os=installed"} {
				path, query, _ := strings.Cut(ep, "?")
				code, body := get(t, h, ep)
				if code != 200 {
					t.Fatalf("%s: %d %s", ep, code, body)
				}
				_, sig := get(t, h, path+".sig?"+query)
				if _, err := openpgp.CheckDetachedSignature(ring, strings.NewReader(body), strings.NewReader(sig), nil); err != nil {
					t.Errorf("%s.sig does not verify: %v", path, err)
				}
				_, asc := get(t, h, path+".asc?"+query)
				if !strings.HasPrefix(asc, "-----BEGIN PGP SIGNATURE-----") {
					t.Errorf("%s.asc is not armored: %q", path, asc)
				}
				if _, err := openpgp.CheckArmoredDetachedSignature(ring, strings.NewReader(body), strings.NewReader(asc), nil); err != nil {
					t.Errorf("%s.asc does not verify: %v", path, err)
				}
				if _, err := openpgp.CheckDetachedSignature(ring, strings.NewReader(body+"tampered"), strings.NewReader(sig), nil); err == nil {
					t.Errorf("%s.sig verifies a tampered body", path)
				}
			}
			// Errors pass through unsigned, with their status.
			if code, body := get(t, h, "/ignition.sig?role=broken"); code != 500 || !strings.Contains(body, "nosuchkey") {
				t.Errorf("signature of a failing config: %d %q", code, body)
			}
		})
	}
}

func TestSignKeyErrors(t *testing.T) {
	enc, _ := newKey(t, false, "right")
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	tests := []struct {
		name, file, pass string
		setPass          bool
		want             string
	}{
		{"missing file", "/nonexistent/key", "", false, "no such file"},
		{"not a key", garbage, "", false, garbage},
		{"encrypted without passphrase", enc, "", false, PassphraseEnv},
		{"wrong passphrase", enc, "wrong", true, "decrypt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setPass {
				t.Setenv(PassphraseEnv, tt.pass)
			} else {
				os.Unsetenv(PassphraseEnv)
			}
			dir := t.TempDir()
			writeTree(t, dir, labData)
			_, err := New(Config{DataDir: dir, SignKeyFile: tt.file, Logger: quietLogger()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
