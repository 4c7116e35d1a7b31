package verify

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// at makes keys and signatures as of a given moment.
func at(t time.Time, lifetime uint32) *packet.Config {
	return &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return t }, KeyLifetimeSecs: lifetime}
}

func keyring(t *testing.T, e *openpgp.Entity) *Keyring {
	t.Helper()
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	k, err := ParseKeyring(buf.Bytes(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignature(t *testing.T) {
	data := []byte("kernel")
	now := time.Now()
	tests := []struct {
		name string
		// make returns the key to trust and a signature of data.
		make func(t *testing.T) (*openpgp.Entity, []byte)
		want string // "" for a good signature
	}{
		{name: "binary signature", make: func(t *testing.T) (*openpgp.Entity, []byte) {
			e, _ := openpgp.NewEntity("p", "", "p@test", at(now, 0))
			var sig bytes.Buffer
			openpgp.DetachSign(&sig, e, bytes.NewReader(data), at(now, 0))
			return e, sig.Bytes()
		}},
		{name: "armored signature", make: func(t *testing.T) (*openpgp.Entity, []byte) {
			e, _ := openpgp.NewEntity("p", "", "p@test", at(now, 0))
			var sig bytes.Buffer
			openpgp.ArmoredDetachSign(&sig, e, bytes.NewReader(data), at(now, 0))
			return e, sig.Bytes()
		}},
		{name: "key expired since it signed", make: func(t *testing.T) (*openpgp.Entity, []byte) {
			// Made 48 h ago, valid for one hour, signed 10 minutes in.
			made := now.Add(-48 * time.Hour)
			e, _ := openpgp.NewEntity("p", "", "p@test", at(made, 3600))
			var sig bytes.Buffer
			if err := openpgp.DetachSign(&sig, e, bytes.NewReader(data), at(made.Add(10*time.Minute), 0)); err != nil {
				t.Fatal(err)
			}
			// go-crypto alone reports the expiry: the case is real.
			if _, _, err := openpgp.VerifyDetachedSignature(openpgp.EntityList{e}, bytes.NewReader(data), bytes.NewReader(sig.Bytes()), nil); !errors.Is(err, pgperrors.ErrKeyExpired) {
				t.Fatalf("go-crypto says %v, want ErrKeyExpired", err)
			}
			return e, sig.Bytes()
		}},
		{name: "revoked key", want: "kernel.img: signature: openpgp: signature made by revoked key", make: func(t *testing.T) (*openpgp.Entity, []byte) {
			made := now.Add(-time.Hour)
			e, _ := openpgp.NewEntity("p", "", "p@test", at(made, 0))
			var sig bytes.Buffer
			openpgp.DetachSign(&sig, e, bytes.NewReader(data), at(made, 0))
			if err := e.RevokeKey(packet.KeyCompromised, "test", at(now, 0)); err != nil {
				t.Fatal(err)
			}
			return e, sig.Bytes()
		}},
		{name: "not a signature", want: "kernel.img: signature: openpgp: invalid data", make: func(t *testing.T) (*openpgp.Entity, []byte) {
			e, _ := openpgp.NewEntity("p", "", "p@test", at(now, 0))
			return e, []byte("<html>404</html>")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, sig := tt.make(t)
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "f"), data, 0o644)
			os.WriteFile(filepath.Join(dir, "f.sig"), sig, 0o644)
			err := keyring(t, e).Signature("kernel.img", filepath.Join(dir, "f"), filepath.Join(dir, "f.sig"))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var verr *Error
			if !errors.As(err, &verr) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseKeyringRefuses(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "keys k: no public key"},
		{"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64\n-----END PGP PUBLIC KEY BLOCK-----\n", "keys k: "},
	} {
		if _, err := ParseKeyring([]byte(tt.in), "k"); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParseKeyring(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}
