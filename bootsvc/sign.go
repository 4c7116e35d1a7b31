package bootsvc

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// PassphraseEnv names the environment variable that holds the signing key's
// passphrase (never a flag: flags show up in ps).
const PassphraseEnv = "LABCTL_SIGN_PASSPHRASE"

// signer makes detached OpenPGP signatures of config responses.
type signer struct{ entity *openpgp.Entity }

// loadSigner reads the first key of an armored or binary secret keyring and
// decrypts it with the passphrase from PassphraseEnv if it is encrypted.
func loadSigner(file string) (*signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	var ring openpgp.EntityList
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		ring, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		ring, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", file, err)
	}
	if len(ring) == 0 || ring[0].PrivateKey == nil {
		return nil, fmt.Errorf("signing key %s: no secret key in the keyring", file)
	}
	e := ring[0]
	if e.PrivateKey.Encrypted {
		pass, ok := os.LookupEnv(PassphraseEnv)
		if !ok {
			return nil, fmt.Errorf("signing key %s is encrypted: set %s", file, PassphraseEnv)
		}
		if err := e.DecryptPrivateKeys([]byte(pass)); err != nil {
			return nil, fmt.Errorf("signing key %s: decrypt with %s: %w", file, PassphraseEnv, err)
		}
	}
	if _, ok := e.SigningKey(time.Now()); !ok {
		return nil, fmt.Errorf("signing key %s: the key has no usable signing key (expired or revoked?)", file)
	}
	return &signer{entity: e}, nil
}

// sign makes a detached canonical-text signature, as matchbox does, armored
// for .asc and binary for .sig.
func (s *signer) sign(body []byte, armored bool) ([]byte, error) {
	var out bytes.Buffer
	var err error
	if armored {
		err = openpgp.ArmoredDetachSignText(&out, s.entity, bytes.NewReader(body), nil)
	} else {
		err = openpgp.DetachSignText(&out, s.entity, bytes.NewReader(body), nil)
	}
	return out.Bytes(), err
}

// signed serves a detached signature of what next would answer. Unlike
// matchbox, an error response is passed through unsigned with its status,
// instead of a signed "404 page not found".
func (s *Server) signed(next http.Handler, armored bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.signer == nil {
			http.Error(w, "signatures are off: start labctl serve with --sign-key", http.StatusNotFound)
			return
		}
		// The signature covers the whole body, so ask for all of it.
		r2 := r.Clone(r.Context())
		r2.Method = http.MethodGet
		for _, h := range []string{"Range", "If-Range", "If-Modified-Since", "If-None-Match"} {
			r2.Header.Del(h)
		}
		rec := &bufferedResponse{header: http.Header{}, info: infoFrom(w)}
		next.ServeHTTP(rec, r2)
		if rec.status == 0 {
			rec.status = http.StatusOK // wrote nothing: an empty body
		}
		if rec.status != http.StatusOK {
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			w.Write(rec.body.Bytes())
			return
		}
		sig, err := s.signer.sign(rec.body.Bytes(), armored)
		if err != nil {
			http.Error(w, "sign: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if armored {
			w.Header().Set("Content-Type", "application/pgp-signature")
		} else {
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		w.Write(sig)
	})
}

// bufferedResponse collects a response in memory (config bodies are small).
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	info   *reqInfo // the signed request's, for the handler that renders the body
}

func (b *bufferedResponse) requestInfo() *reqInfo { return b.info }

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	if b.body.Len()+len(p) > maxSignedBody {
		return 0, errors.New("response too large to sign")
	}
	return b.body.Write(p)
}

const maxSignedBody = 16 << 20
