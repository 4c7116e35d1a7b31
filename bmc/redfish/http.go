package redfish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labctl/labctl/bmc"
)

// Retry bounds: a busy BMC (503, or 500 from a service still starting) is
// asked again after a growing pause, within the endpoint's timeout.
const (
	maxAttempts  = 6
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// statusError is a Redfish service's error answer: the request, its
// status and the service's own message.
type statusError struct {
	Method, Path string
	Status       int
	Code         string // the error's MessageId, such as Base.1.16.NoValidSession
	Message      string
	Attempts     int
}

func (e *statusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// busy reports whether the answer says "not now" rather than "no".
func busy(status int) bool {
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// reply is a successful answer.
type reply struct {
	header http.Header
	body   []byte
}

// do sends one request and, when retry is set (the request is idempotent),
// sends it again while the service answers busy, with backoff, until
// maxAttempts or the context's deadline. body, if not nil, is sent as JSON.
func (c *Conn) do(ctx context.Context, method, path string, body any, header map[string]string, retry bool) (*reply, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	relogged := false
	for attempt := 1; ; attempt++ {
		rep, err := c.once(ctx, method, path, payload, header)
		var se *statusError
		if errors.As(err, &se) && se.Status == http.StatusUnauthorized && c.token != "" && c.sessions != "" && !relogged {
			// The BMC dropped the session (a reset, a session limit, an
			// idle time-out): log in again, once, and resend.
			relogged = true
			if lerr := c.openSession(ctx); lerr != nil {
				return nil, fmt.Errorf("%w; logging in again: %w", err, lerr)
			}
			attempt--
			continue
		}
		if err == nil || !retry || !errors.As(err, &se) || !busy(se.Status) || attempt == maxAttempts {
			if se != nil {
				se.Attempts = attempt
			}
			return rep, err
		}
		if bmc.Sleep(ctx, backoff(attempt)) != nil {
			se.Attempts = attempt
			return nil, err
		}
	}
}

// backoff is the pause after the attempt-th busy answer.
func backoff(attempt int) time.Duration {
	return min(firstBackoff<<(attempt-1), maxBackoff)
}

// once sends one request with the connection's credentials.
func (c *Conn) once(ctx context.Context, method, path string, payload []byte, header map[string]string) (*reply, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	switch {
	case c.token != "":
		req.Header.Set("X-Auth-Token", c.token)
	case c.basic:
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		se := &statusError{Method: method, Path: path, Status: resp.StatusCode}
		var e struct {
			Error struct {
				Code     string `json:"code"`
				Message  string `json:"message"`
				Extended []struct {
					MessageID string `json:"MessageId"`
					Message   string `json:"Message"`
				} `json:"@Message.ExtendedInfo"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil {
			se.Code, se.Message = e.Error.Code, e.Error.Message
			if len(e.Error.Extended) > 0 && se.Message == "" {
				se.Code, se.Message = e.Error.Extended[0].MessageID, e.Error.Extended[0].Message
			}
		}
		if se.Message == "" && se.Code == "" {
			se.Message = strings.TrimSpace(string(b[:min(len(b), 200)]))
		}
		return nil, se
	}
	return &reply{header: resp.Header, body: b}, nil
}

// get reads the resource at path into v, retrying while the service is busy.
func (c *Conn) get(ctx context.Context, path string, v any) (http.Header, error) {
	rep, err := c.do(ctx, http.MethodGet, path, nil, nil, true)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(rep.body, v); err != nil {
		return nil, fmt.Errorf("GET %s: not a Redfish resource: %w", path, err)
	}
	return rep.header, nil
}
