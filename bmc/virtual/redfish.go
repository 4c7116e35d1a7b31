package virtual

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

const sessionIdle = 30 * time.Minute

// ServeRedfish answers Redfish over HTTPS on ln for systems until ctx is
// done. Systems are addressed by UUID (/redfish/v1/Systems/{uuid}).
func ServeRedfish(ctx context.Context, ln net.Listener, cert tls.Certificate, systems []*System, cred Credentials) error {
	h, err := NewRedfishHandler(systems, cred)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute, // a graceful shutdown is waited for
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	defer stop()
	err = srv.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// redfish is one Redfish service: the lab's systems, its accounts and the
// sessions open on it. Accounts other than the lab's live in memory only.
type redfish struct {
	systems map[string]*System
	order   []string
	mux     *http.ServeMux // its resources, behind protocol

	quirks Quirks // the service's own: sessions, busy answers, delay

	mu         sync.Mutex
	busyLeft   int                   // requests still to answer busy
	resetsLeft int                   // resets still to answer busy
	accounts   map[string]*rfAccount // by Id
	lastID     int                   // of the newest account
	sessions   map[string]*rfSession // by id
}

// NewRedfishHandler returns the Redfish service as an http.Handler (without
// TLS). cred is the lab's account, an Administrator that cannot be changed
// over Redfish: labctl's own clients read its password from the lab.
func NewRedfishHandler(systems []*System, cred Credentials) (http.Handler, error) {
	if cred.Username == "" || cred.Password == "" {
		return nil, errors.New("redfish: username and password are required")
	}
	r := &redfish{
		systems:  map[string]*System{},
		accounts: map[string]*rfAccount{},
		sessions: map[string]*rfSession{},
	}
	for i, s := range systems {
		if s.UUID == "" {
			return nil, fmt.Errorf("redfish: system %s has no UUID", s.Name)
		}
		if err := s.Quirks.check(); err != nil {
			return nil, fmt.Errorf("redfish: system %s: quirks: %w", s.Name, err)
		}
		if i == 0 {
			r.quirks = s.Quirks.service()
		} else if q := s.Quirks.service(); q.sessions() != r.quirks.sessions() || q.BusyRequests != r.quirks.BusyRequests ||
			q.BusyResets != r.quirks.BusyResets || q.busyStatus() != r.quirks.busyStatus() || q.Delay != r.quirks.Delay {
			return nil, fmt.Errorf("redfish: system %s: its service quirks differ from %s's; serve them apart", s.Name, systems[0].Name)
		}
		id := strings.ToLower(s.id())
		if _, dup := r.systems[id]; dup {
			return nil, fmt.Errorf("redfish: systems share the Id %s", s.id())
		}
		r.systems[id] = s
		r.order = append(r.order, s.id())
	}
	r.busyLeft, r.resetsLeft = r.quirks.BusyRequests, r.quirks.BusyResets
	r.lastID = 1
	r.accounts["1"] = &rfAccount{id: "1", user: cred.Username, password: cred.Password, role: "Administrator", enabled: true, lab: true}

	r.mux = http.NewServeMux()
	r.handle("/redfish", methods{"GET": public(r.versions)})
	r.handle("/redfish/v1", methods{"GET": public(r.root)})
	r.handle("/redfish/v1/odata", methods{"GET": public(r.serviceDocument)})
	r.handle("/redfish/v1/$metadata", methods{"GET": public(metadata)})
	if r.quirks.sessions() {
		r.sessionRoutes()
	}
	r.accountRoutes()
	r.systemRoutes()
	r.managerRoutes()
	r.mux.Handle("/", r.authenticated(privLogin, func(w http.ResponseWriter, req *http.Request, _ *caller) {
		rfError(w, http.StatusNotFound, "ResourceMissingAtURI", "no resource at "+req.URL.Path, req.URL.Path)
	}))
	return r.quirky(protocol(r.faulty(r.mux))), nil
}

// quirky applies the service's quirks before next: an answer held back by
// Delay, and the first BusyRequests requests answered busy.
func (r *redfish) quirky(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if d := time.Duration(r.quirks.Delay); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-req.Context().Done():
				t.Stop()
				return
			}
		}
		r.mu.Lock()
		busy := r.busyLeft > 0
		if busy {
			r.busyLeft--
		}
		r.mu.Unlock()
		if busy {
			r.busy(w)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// busy answers as a BMC that cannot take the request now.
func (r *redfish) busy(w http.ResponseWriter) {
	rfError(w, r.quirks.busyStatus(), "ServiceTemporarilyUnavailable", "the service is busy; retry later")
}

// op is what a resource does for one method: fn, run for a caller that
// holds priv (or for anyone, when public).
type op struct {
	public bool
	priv   privilege
	fn     func(http.ResponseWriter, *http.Request, *caller)
}

func public(fn func(http.ResponseWriter, *http.Request, *caller)) op {
	return op{public: true, fn: fn}
}

func need(p privilege, fn func(http.ResponseWriter, *http.Request, *caller)) op {
	return op{priv: p, fn: fn}
}

// methods is a resource: its operations by HTTP method. GET also answers HEAD.
type methods map[string]op

// allow is the value of the Allow header for ms.
func (ms methods) allow() string {
	var list []string
	for m := range ms {
		list = append(list, m)
		if m == http.MethodGet {
			list = append(list, http.MethodHead)
		}
	}
	slices.Sort(list)
	return strings.Join(list, ", ")
}

// handle serves the resource at pattern. A method the resource lacks is
// answered 405 with the Allow header, after authentication for a resource
// that needs it, so that an anonymous client learns nothing of it.
func (r *redfish) handle(pattern string, ms methods) {
	allow := ms.allow()
	publicRead := ms[http.MethodGet].public
	serve := func(o op, w http.ResponseWriter, req *http.Request) {
		fn := func(w http.ResponseWriter, req *http.Request, c *caller) {
			w.Header().Set("Allow", allow)
			o.fn(w, req, c)
		}
		if o.public {
			fn(w, req, nil)
			return
		}
		r.authenticated(o.priv, fn).ServeHTTP(w, req)
	}
	notAllowed := op{public: publicRead, priv: privLogin, fn: func(w http.ResponseWriter, req *http.Request, _ *caller) {
		rfError(w, http.StatusMethodNotAllowed, "OperationNotAllowed",
			fmt.Sprintf("%s is not allowed on %s (allowed: %s)", req.Method, req.URL.Path, allow))
	}}
	r.mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
		method := req.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		o, ok := ms[method]
		if !ok {
			o = notAllowed
		}
		serve(o, w, req)
	})
}

// protocol applies what every Redfish request and response share: a
// trailing slash is the same resource, an OData-Version other than 4.0 is
// refused (412), query parameters starting with $ are not implemented
// (501), only must have no value and others are ignored, and responses
// are never cached.
func protocol(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("OData-Version", "4.0")
		if p := req.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			req.URL.Path = strings.TrimRight(p, "/")
			req.URL.RawPath = ""
		}
		if v := req.Header.Get("OData-Version"); v != "" && v != "4.0" {
			rfError(w, http.StatusPreconditionFailed, "HeaderInvalid",
				"OData-Version "+v+" is not supported; this service speaks 4.0", "OData-Version")
			return
		}
		for k, v := range req.URL.Query() {
			if strings.HasPrefix(k, "$") {
				rfError(w, http.StatusNotImplemented, "QueryNotSupported",
					"query parameter "+k+" is not supported", k)
				return
			}
			if k == "only" && (len(v) != 1 || v[0] != "") {
				rfError(w, http.StatusBadRequest, "QueryParameterValueFormatError",
					"query parameter only takes no value, not "+strings.Join(v, ","), strings.Join(v, ","), "only")
				return
			}
		}
		next.ServeHTTP(w, req)
	})
}

// writeJSON sends v. A resource (a map with @odata.type) also gets its
// @odata.etag and ETag header, a hash of the rest of it, and a Link header
// to its JSON schema.
func writeJSON(w http.ResponseWriter, status int, v any) {
	if res, ok := v.(map[string]any); ok {
		if t, ok := res["@odata.type"].(string); ok {
			etag := etagOf(res)
			res["@odata.etag"] = etag
			w.Header().Set("ETag", etag)
			w.Header().Set("Link", "<"+schemaURI(t)+">; rel=describedby")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// etagOf is the strong ETag of a resource: a hash of its JSON without its
// own @odata.etag.
func etagOf(res map[string]any) string {
	c := make(map[string]any, len(res))
	for k, v := range res {
		if k != "@odata.etag" {
			c[k] = v
		}
	}
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// ifMatch reports whether req's If-Match (if any) names etag; otherwise it
// answers 412.
func ifMatch(w http.ResponseWriter, req *http.Request, etag string) bool {
	m := req.Header.Get("If-Match")
	if m == "" || m == "*" || strings.TrimPrefix(m, "W/") == etag {
		return true
	}
	rfError(w, http.StatusPreconditionFailed, "PreconditionFailed", "If-Match "+m+" does not match the current ETag "+etag)
	return false
}

// Messages are from DMTF's Base message registry.
const baseRegistry = "Base.1.16."

// message is one entry of @Message.ExtendedInfo.
func message(id, text string, args ...string) map[string]any {
	m := map[string]any{"@odata.type": "#Message.v1_1_1.Message", "MessageId": baseRegistry + id, "Message": text}
	if len(args) > 0 {
		m["MessageArgs"] = args
	}
	return m
}

// rfError answers a Redfish error: code and message, and the same as
// extended information; args are the message's arguments (the property,
// header or parameter at fault).
func rfError(w http.ResponseWriter, status int, id, msg string, args ...string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": baseRegistry + id, "message": msg,
		"@Message.ExtendedInfo": []map[string]any{message(id, msg, args...)},
	}})
}

// decodeBody reads a JSON object of at most limit bytes from req.
func decodeBody(w http.ResponseWriter, req *http.Request, limit int64, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, limit)).Decode(v); err != nil {
		rfError(w, http.StatusBadRequest, "MalformedJSON", req.Method+" "+req.URL.Path+": "+err.Error())
		return false
	}
	return true
}

// patchBody reads a PATCH body and drops its OData annotations; a body of
// nothing else is refused with NoOperation.
func patchBody(w http.ResponseWriter, req *http.Request) (map[string]json.RawMessage, bool) {
	var body map[string]json.RawMessage
	if !decodeBody(w, req, 64<<10, &body) {
		return nil, false
	}
	for k := range body {
		if strings.HasPrefix(k, "@") {
			delete(body, k)
		}
	}
	if len(body) == 0 {
		rfError(w, http.StatusBadRequest, "NoOperation", "the PATCH to "+req.URL.Path+" changes nothing")
		return nil, false
	}
	return body, true
}

func odata(id string) map[string]string { return map[string]string{"@odata.id": id} }

// writeCollection sends a collection or, asked ?only when it has exactly
// one member, that member as a request for it would get it.
func (r *redfish) writeCollection(w http.ResponseWriter, req *http.Request, id, schema, name string, members []map[string]string) {
	if req.URL.Query().Has("only") && len(members) == 1 {
		m := req.Clone(req.Context())
		m.URL.Path, m.URL.RawQuery = members[0]["@odata.id"], ""
		r.mux.ServeHTTP(w, m)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type": odataType(schema), "@odata.id": id, "Name": name,
		"Members": members, "Members@odata.count": len(members),
	})
}

func (r *redfish) versions(w http.ResponseWriter, _ *http.Request, _ *caller) {
	writeJSON(w, http.StatusOK, map[string]string{"v1": "/redfish/v1/"})
}

// Service root links, also the OData service document's entries.
var rootLinks = []struct{ name, uri string }{
	{"Systems", "/redfish/v1/Systems"},
	{"Managers", "/redfish/v1/Managers"},
	{"SessionService", "/redfish/v1/SessionService"},
	{"AccountService", "/redfish/v1/AccountService"},
}

// rootLinks are the service root's links: all, or all but the
// SessionService on a service without one.
func (r *redfish) rootLinks() []struct{ name, uri string } {
	if r.quirks.sessions() {
		return rootLinks
	}
	return slices.DeleteFunc(slices.Clone(rootLinks), func(l struct{ name, uri string }) bool { return l.name == "SessionService" })
}

func (r *redfish) root(w http.ResponseWriter, _ *http.Request, _ *caller) {
	v := map[string]any{
		"@odata.type":    odataType("ServiceRoot"),
		"@odata.id":      "/redfish/v1/",
		"Id":             "RootService",
		"Name":           "labctl virtual BMC",
		"RedfishVersion": "1.6.0",
		"UUID":           "00000000-0000-0000-0000-000000000000",
		"Links":          map[string]any{"Sessions": odata("/redfish/v1/SessionService/Sessions")},
		// Of the query parameters, only "only" is supported.
		"ProtocolFeaturesSupported": map[string]any{
			"ExpandQuery": map[string]any{"ExpandAll": false, "Levels": false, "Links": false, "NoLinks": false},
			"FilterQuery": false, "SelectQuery": false, "OnlyMemberQuery": true, "ExcerptQuery": false,
		},
	}
	for _, l := range r.rootLinks() {
		v[l.name] = odata(l.uri)
	}
	if !r.quirks.sessions() {
		delete(v, "Links")
	}
	writeJSON(w, http.StatusOK, v)
}

// serviceDocument is the OData service document: the service root and its
// direct children.
func (r *redfish) serviceDocument(w http.ResponseWriter, _ *http.Request, _ *caller) {
	value := []map[string]string{{"name": "Service", "kind": "Singleton", "url": "/redfish/v1/"}}
	for _, l := range r.rootLinks() {
		value = append(value, map[string]string{"name": l.name, "kind": "Singleton", "url": l.uri})
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": "/redfish/v1/$metadata", "value": value})
}
