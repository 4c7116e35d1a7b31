package bmc

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Kinds of failure that callers (and users reading an error) tell apart.
// Implementations wrap one of these so that errors.Is works across protocols.
var (
	ErrUnreachable = errors.New("BMC unreachable")
	ErrAuth        = errors.New("BMC refused the credentials")
	ErrUnsupported = errors.New("not supported by the BMC")
	ErrTimeout     = errors.New("timed out")
	ErrNoEffect    = errors.New("BMC reported success but the machine did not change")
	// ErrBusy is a BMC's "not now": it did not act and asks to be asked
	// again (Redfish 503 or 409 ResourceInUse, IPMI Node Busy C0h).
	ErrBusy = errors.New("BMC busy")
)

// Password reads the endpoint's password from its environment variable or file.
func (e Endpoint) Password() (string, error) {
	switch {
	case e.PasswordEnv != "":
		v, ok := os.LookupEnv(e.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("%s: password environment variable %s is not set", e, e.PasswordEnv)
		}
		return v, nil
	case e.PasswordFile != "":
		b, err := os.ReadFile(e.PasswordFile)
		if err != nil {
			// The path is not secret; the error from ReadFile holds no content.
			return "", fmt.Errorf("%s: password file: %w", e, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", fmt.Errorf("%s: no password_env or password_file", e)
}

// redacted wraps an error so that its text never shows a secret, even when a
// library echoes what it was given; errors.Is still sees the original.
type redacted struct {
	err    error
	secret string
}

func (r *redacted) Error() string {
	msg := r.err.Error()
	if r.secret != "" {
		msg = strings.ReplaceAll(msg, r.secret, "***")
	}
	return msg
}

func (r *redacted) Unwrap() error { return r.err }

// Redact returns err with every occurrence of secret in its text replaced.
func Redact(err error, secret string) error {
	if err == nil {
		return nil
	}
	return &redacted{err: err, secret: secret}
}

// Attempt records one endpoint tried and why it failed.
type Attempt struct {
	Endpoint Endpoint
	Err      error
}

// AttemptsError lists every endpoint tried for a machine and why each failed.
type AttemptsError struct {
	Machine  string
	Op       string
	Attempts []Attempt
	Rounds   int // how many times every endpoint was tried (Client.Retry)
}

func (e *AttemptsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s failed on every BMC endpoint", e.Machine, e.Op)
	if e.Rounds > 1 {
		fmt.Fprintf(&b, " in %d rounds", e.Rounds)
	}
	b.WriteString(":")
	for i, a := range e.Attempts {
		fmt.Fprintf(&b, " [%d] %s: %v;", i+1, a.Endpoint, a.Err)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Unwrap lets errors.Is find the kind of any attempt's failure.
func (e *AttemptsError) Unwrap() []error {
	errs := make([]error, len(e.Attempts))
	for i, a := range e.Attempts {
		errs[i] = a.Err
	}
	return errs
}
