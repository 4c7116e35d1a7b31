// Package verify proves that a downloaded image file is what its publisher
// released: a detached OpenPGP signature by a key labctl trusts, and the
// SHA-256 the publisher's metadata names.
package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Keyring is the set of public keys whose signatures are accepted.
type Keyring struct {
	entities openpgp.EntityList
	source   string // names the keys in errors: a file or "Flatcar's image-signing key"
}

// ParseKeyring reads armored or binary public keys; source names them in errors.
func ParseKeyring(raw []byte, source string) (*Keyring, error) {
	var el openpgp.EntityList
	var err error
	if bytes.Contains(raw, []byte("-----BEGIN PGP")) {
		el, err = readArmoredKeyrings(raw)
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(raw))
	}
	if err != nil {
		return nil, fmt.Errorf("keys %s: %w", source, err)
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("keys %s: no public key", source)
	}
	return &Keyring{entities: el, source: source}, nil
}

// LoadKeyring reads the keys in a file.
func LoadKeyring(path string) (*Keyring, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return ParseKeyring(raw, path)
}

// readArmoredKeyrings reads every armored block: publishers concatenate
// several keys (one per release) into one file. Each block is decoded on
// its own because armor.Decode buffers past the end of the block it reads.
func readArmoredKeyrings(raw []byte) (openpgp.EntityList, error) {
	const begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	var all openpgp.EntityList
	for _, part := range bytes.Split(raw, []byte(begin))[1:] {
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(append([]byte(begin), part...)))
		if err != nil {
			return nil, err
		}
		all = append(all, el...)
	}
	if len(all) == 0 {
		return nil, errors.New("no " + begin)
	}
	return all, nil
}

// Fingerprints lists the primary keys' fingerprints in upper-case hex.
func (k *Keyring) Fingerprints() []string {
	var out []string
	for _, e := range k.entities {
		out = append(out, strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint)))
	}
	return out
}

// Error says which file failed which check.
type Error struct {
	File  string // the file as its publisher names it
	Check string // "signature", "checksum"
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s: %v", e.File, e.Check, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// ErrUnknownKey is a signature by a key not in the keyring.
var ErrUnknownKey = errors.New("signed by a key labctl does not trust")

// Signature checks that sigPath holds a detached signature (armored or
// binary) of dataPath by a key in k. name is the file as the user knows it.
func (k *Keyring) Signature(name, dataPath, sigPath string) error {
	fail := func(err error) error { return &Error{File: name, Check: "signature", Err: err} }
	rawSig, err := os.ReadFile(sigPath)
	if err != nil {
		return fail(err)
	}
	if len(rawSig) == 0 {
		return fail(errors.New("signature file is empty"))
	}
	if bytes.Contains(rawSig, []byte("-----BEGIN PGP SIGNATURE")) {
		block, err := armor.Decode(bytes.NewReader(rawSig))
		if err != nil {
			return fail(fmt.Errorf("signature armor: %w", err))
		}
		if rawSig, err = io.ReadAll(block.Body); err != nil {
			return fail(fmt.Errorf("signature armor: %w", err))
		}
	}
	check := func(cfg *packet.Config) (*packet.Signature, error) {
		f, err := os.Open(dataPath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		sig, _, err := openpgp.VerifyDetachedSignature(k.entities, f, bytes.NewReader(rawSig), cfg)
		return sig, err
	}
	sig, err := check(nil)
	// A release signed while its signing subkey was valid stays good after
	// the subkey expires (gpg's rule): revocation was already checked at the
	// current time before go-crypto reports expiry, so check expiry again at
	// the moment of signing.
	if errors.Is(err, pgperrors.ErrKeyExpired) && sig != nil {
		at := sig.CreationTime
		_, err = check(&packet.Config{Time: func() time.Time { return at }})
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return fail(fmt.Errorf("%w (keys: %s)", ErrUnknownKey, k.source))
	default:
		return fail(err)
	}
}

// SHA256 checks that the file at path has the hex digest want.
func SHA256(name, path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return &Error{File: name, Check: "checksum", Err: err}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return &Error{File: name, Check: "checksum", Err: err}
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return &Error{File: name, Check: "checksum", Err: fmt.Errorf("sha256 is %s, the publisher's metadata says %s", got, want)}
	}
	return nil
}
