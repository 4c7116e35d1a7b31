// Package redfish is a BMC client over Redfish: sessions where the service
// has them (basic auth where it does not), TLS verified by default, busy
// answers retried for idempotent requests, boot overrides checked against
// what the service allows.
package redfish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/labctl/labctl/bmc"
	"github.com/labctl/labctl/internal/power"
)

// Conn is a logged-in Redfish client bound to one ComputerSystem.
type Conn struct {
	hc       *http.Client
	base     string // scheme://host[:port]
	user     string
	password string
	basic    bool   // basic auth on every request
	token    string // X-Auth-Token of the session
	session  string // the session's URI, deleted on Close
	sessions string // the Sessions collection, to log in again to when the BMC dropped the session
	systemID string // @odata.id of the system
	warnings []string
}

var (
	_ power.StateReader = (*Conn)(nil)
	_ power.Setter      = (*Conn)(nil)
	_ power.BootSetter  = (*Conn)(nil)
)

// Dial logs in to ep and finds the system whose UUID is ep.SystemUUID (or
// the only system, when the service has one); it is a bmc.Dialer.
func Dial(ctx context.Context, ep bmc.Endpoint, password string) (bmc.Conn, error) {
	return dialConn(ctx, ep, password, nil)
}

// DialVia returns a bmc.Dialer whose connections are made by dial, for
// example inside a lab's network namespace (netns.Dialer).
func DialVia(dial func(ctx context.Context, network, addr string) (net.Conn, error)) bmc.Dialer {
	return func(ctx context.Context, ep bmc.Endpoint, password string) (bmc.Conn, error) {
		return dialConn(ctx, ep, password, dial)
	}
}

// serviceRoot is what the client reads of /redfish/v1.
type serviceRoot struct {
	Systems        odataRef
	SessionService odataRef
	Links          struct{ Sessions odataRef }
}

type odataRef struct {
	ID string `json:"@odata.id"`
}

func dialConn(ctx context.Context, ep bmc.Endpoint, password string, via func(ctx context.Context, network, addr string) (net.Conn, error)) (bmc.Conn, error) {
	u, err := url.Parse(ep.Address)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("address %q: want https://host[:port] (or http://host[:port])", ep.Address)
	}
	c := &Conn{base: u.Scheme + "://" + u.Host, user: ep.Username, password: password}
	if u.Scheme == "http" && ep.Username != "" {
		c.warn("plain HTTP: the BMC password crosses the network unencrypted (use an https:// address)")
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: ep.Insecure, MinVersion: tls.VersionTLS12}
	if ep.CAFile != "" {
		pem, err := os.ReadFile(ep.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates", ep.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	c.hc = &http.Client{
		Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil, DialContext: via},
		// A redirect would send the credentials somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	var root serviceRoot
	if _, err := c.get(ctx, "/redfish/v1/", &root); err != nil {
		return nil, classify(ctx, "read the service root", err)
	}
	if err := c.logIn(ctx, ep.Auth, root); err != nil {
		return nil, err
	}
	if err := c.findSystem(ctx, root, ep.SystemUUID); err != nil {
		c.Close(ctx)
		return nil, err
	}
	return c, nil
}

// logIn opens a session, or settles for basic auth: with auth auto (the
// default), sessions when the service root links a SessionService.
func (c *Conn) logIn(ctx context.Context, auth bmc.Auth, root serviceRoot) error {
	sessions := root.Links.Sessions.ID
	if sessions == "" && root.SessionService.ID != "" {
		sessions = strings.TrimSuffix(root.SessionService.ID, "/") + "/Sessions"
	}
	switch {
	case auth == bmc.AuthBasic:
		c.basic = true
		return nil
	case sessions == "" && auth == bmc.AuthSession:
		return fmt.Errorf("log in: the service root links no SessionService, so this BMC has no sessions: set auth: basic (or auto) for this endpoint: %w", bmc.ErrUnsupported)
	case sessions == "":
		c.basic = true
		return nil
	}
	c.sessions = sessions
	return c.openSession(ctx)
}

// openSession posts the credentials to the Sessions collection and keeps
// the token and the session's URI.
func (c *Conn) openSession(ctx context.Context) error {
	sessions := c.sessions
	c.token, c.session = "", ""
	// A busy answer to a login created no session; a duplicate one, should a
	// lost answer hide the first, expires on the BMC.
	rep, err := c.do(ctx, http.MethodPost, sessions, map[string]string{"UserName": c.user, "Password": c.password}, nil, true)
	if err != nil {
		return classify(ctx, "log in", err)
	}
	c.token = rep.header.Get("X-Auth-Token")
	if c.token == "" {
		return fmt.Errorf("log in: POST %s answered without an X-Auth-Token header: set auth: basic for this endpoint", sessions)
	}
	if loc := rep.header.Get("Location"); loc != "" {
		if lu, err := url.Parse(loc); err == nil {
			c.session = lu.Path
		}
	}
	return nil
}

// findSystem binds c to the system whose UUID is uuid, or to the only one.
func (c *Conn) findSystem(ctx context.Context, root serviceRoot, uuid string) error {
	if root.Systems.ID == "" {
		return fmt.Errorf("list systems: the service root links no Systems collection: %w", bmc.ErrUnsupported)
	}
	var coll struct{ Members []odataRef }
	if _, err := c.get(ctx, root.Systems.ID, &coll); err != nil {
		return classify(ctx, "list systems", err)
	}
	// A BMC that names its systems by UUID (sushy-tools, labctl's own) is
	// asked for that one first: the others are not read, so one system's
	// trouble does not reach the clients of its neighbours.
	for i, m := range coll.Members {
		if uuid != "" && i > 0 && strings.EqualFold(m.ID[strings.LastIndex(strings.TrimSuffix(m.ID, "/"), "/")+1:], uuid) {
			coll.Members[0], coll.Members[i] = m, coll.Members[0]
			break
		}
	}
	var seen []string
	for _, m := range coll.Members {
		var s struct{ UUID string }
		if _, err := c.get(ctx, m.ID, &s); err != nil {
			return classify(ctx, "read system "+m.ID, err)
		}
		if uuid != "" && strings.EqualFold(s.UUID, uuid) {
			c.systemID = m.ID
			return nil
		}
		seen = append(seen, m.ID+" (UUID "+s.UUID+")")
	}
	if uuid == "" && len(coll.Members) == 1 {
		c.systemID = coll.Members[0].ID
		return nil
	}
	return fmt.Errorf("no system with UUID %q among %d systems: %s", uuid, len(coll.Members), strings.Join(seen, ", "))
}

// classify wraps err with the bmc error kind it shows.
func classify(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var se *statusError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", op, err) // bmc.Client names the time-out and its budget
	case errors.As(err, &se) && (se.Status == http.StatusServiceUnavailable ||
		se.Status == http.StatusConflict && strings.HasSuffix(se.Code, ".ResourceInUse")):
		// "Not now": the service did not act (503), or the resource is in
		// use or in transition (409 ResourceInUse, a pending job).
		return fmt.Errorf("%s: %w: %w", op, bmc.ErrBusy, err)
	case errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden):
		return fmt.Errorf("%s: %w: %w", op, bmc.ErrAuth, err)
	case errors.As(err, &certErr):
		return fmt.Errorf("%s: TLS certificate not trusted (give ca_file, or insecure: true): %w", op, err)
	case errors.As(err, &netErr):
		return fmt.Errorf("%s: %w: %w", op, bmc.ErrUnreachable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (c *Conn) warn(msg string) { c.warnings = append(c.warnings, msg) }

// Warnings are what the client did differently from what was asked, or
// risks it took (plain HTTP); bmc.Client logs them with the machine's name.
func (c *Conn) Warnings() []string { return c.warnings }

// Close logs out (a session is deleted; basic auth has nothing to end).
func (c *Conn) Close(ctx context.Context) error {
	if c.session == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // a logout is not worth waiting long for
	defer cancel()
	c.sessions = "" // a session the BMC dropped is not logged in again to be deleted
	_, err := c.do(ctx, http.MethodDelete, c.session, nil, nil, false)
	c.session, c.token = "", ""
	return err
}
