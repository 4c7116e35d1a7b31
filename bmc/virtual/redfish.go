package virtual

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/power"
)

// Redfish values this BMC offers; they are also its @Redfish.AllowableValues.
var (
	redfishTargets    = []string{"None", "Pxe", "Hdd"}
	redfishEnabled    = []string{"Disabled", "Once", "Continuous"}
	redfishModes      = []string{"Legacy", "UEFI"}
	redfishResetTypes = map[string]power.Action{
		"On":               power.ActionOn,
		"ForceOff":         power.ActionOff,
		"GracefulShutdown": power.ActionSoftOff,
		// Both restarts are cold, so that a new boot device takes effect.
		"ForceRestart": power.ActionCycle,
		"PowerCycle":   power.ActionCycle,
	}
	redfishResetOrder = []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle"}
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

type redfish struct {
	systems map[string]*System
	order   []string
	cred    Credentials

	mu       sync.Mutex
	sessions map[string]*rfSession // by id
}

type rfSession struct {
	id, token string
	seen      time.Time
}

// NewRedfishHandler returns the Redfish service as an http.Handler (without TLS).
func NewRedfishHandler(systems []*System, cred Credentials) (http.Handler, error) {
	if cred.Username == "" || cred.Password == "" {
		return nil, errors.New("redfish: username and password are required")
	}
	r := &redfish{systems: map[string]*System{}, cred: cred, sessions: map[string]*rfSession{}}
	for _, s := range systems {
		id := strings.ToLower(s.UUID)
		if id == "" {
			return nil, fmt.Errorf("redfish: system %s has no UUID", s.Name)
		}
		if _, dup := r.systems[id]; dup {
			return nil, fmt.Errorf("redfish: systems share UUID %s", id)
		}
		r.systems[id] = s
		r.order = append(r.order, id)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /redfish", r.versions)
	mux.HandleFunc("GET /redfish/{$}", r.versions)
	mux.HandleFunc("GET /redfish/v1", r.root)
	mux.HandleFunc("GET /redfish/v1/{$}", r.root)
	mux.HandleFunc("POST /redfish/v1/SessionService/Sessions", r.login)
	mux.HandleFunc("POST /redfish/v1/SessionService/Sessions/{$}", r.login)
	mux.Handle("GET /redfish/v1/SessionService", r.auth(r.sessionService))
	mux.Handle("GET /redfish/v1/SessionService/Sessions", r.auth(r.sessionList))
	mux.Handle("GET /redfish/v1/SessionService/Sessions/{id}", r.auth(r.sessionGet))
	mux.Handle("DELETE /redfish/v1/SessionService/Sessions/{id}", r.auth(r.sessionDelete))
	mux.Handle("GET /redfish/v1/Systems", r.auth(r.systemList))
	mux.Handle("GET /redfish/v1/Systems/{id}", r.auth(r.systemGet))
	mux.Handle("PATCH /redfish/v1/Systems/{id}", r.auth(r.systemPatch))
	mux.Handle("POST /redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset", r.auth(r.systemReset))
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		rfError(w, http.StatusNotFound, "Base.1.0.ResourceMissingAtURI", "no resource at "+req.URL.Path)
	})
	return mux, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func rfError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"@Message.ExtendedInfo": []map[string]any{{"MessageId": code, "Message": msg}},
	}})
}

func (r *redfish) versions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"v1": "/redfish/v1/"})
}

func (r *redfish) root(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":    "#ServiceRoot.v1_5_0.ServiceRoot",
		"@odata.id":      "/redfish/v1/",
		"Id":             "RootService",
		"Name":           "labctl virtual BMC",
		"RedfishVersion": "1.6.0",
		"UUID":           "00000000-0000-0000-0000-000000000000",
		"Systems":        odata("/redfish/v1/Systems"),
		"SessionService": odata("/redfish/v1/SessionService"),
		"Links":          map[string]any{"Sessions": odata("/redfish/v1/SessionService/Sessions")},
	})
}

func odata(id string) map[string]string { return map[string]string{"@odata.id": id} }

// auth admits a request with a live session token or valid basic credentials.
func (r *redfish) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if tok := req.Header.Get("X-Auth-Token"); tok != "" && r.validToken(tok) {
			next(w, req)
			return
		}
		if u, p, ok := req.BasicAuth(); ok && r.validCred(u, p) {
			next(w, req)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="labctl"`)
		rfError(w, http.StatusUnauthorized, "Base.1.0.NoValidSession", "a valid session or credentials are required")
	})
}

func (r *redfish) validCred(u, p string) bool {
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(r.cred.Username)) == 1
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(r.cred.Password)) == 1
	return uok && pok
}

func (r *redfish) validToken(tok string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for id, s := range r.sessions {
		if now.Sub(s.seen) > sessionIdle {
			delete(r.sessions, id)
			continue
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1 {
			s.seen = now
			return true
		}
	}
	return false
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *redfish) login(w http.ResponseWriter, req *http.Request) {
	var body struct{ UserName, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 4096)).Decode(&body); err != nil {
		rfError(w, http.StatusBadRequest, "Base.1.0.MalformedJSON", "session request: "+err.Error())
		return
	}
	if !r.validCred(body.UserName, body.Password) {
		rfError(w, http.StatusUnauthorized, "Base.1.0.NoValidSession", "wrong user name or password")
		return
	}
	s := &rfSession{id: randomHex(8), token: randomHex(32), seen: time.Now()}
	r.mu.Lock()
	r.sessions[s.id] = s
	r.mu.Unlock()
	loc := "/redfish/v1/SessionService/Sessions/" + s.id
	w.Header().Set("X-Auth-Token", s.token)
	w.Header().Set("Location", loc)
	writeJSON(w, http.StatusCreated, r.sessionJSON(s.id))
}

func (r *redfish) sessionJSON(id string) map[string]any {
	return map[string]any{
		"@odata.type": "#Session.v1_0_0.Session",
		"@odata.id":   "/redfish/v1/SessionService/Sessions/" + id,
		"Id":          id, "Name": "User Session", "UserName": r.cred.Username,
	}
}

func (r *redfish) sessionService(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":    "#SessionService.v1_1_0.SessionService",
		"@odata.id":      "/redfish/v1/SessionService",
		"Id":             "SessionService",
		"Name":           "Session Service",
		"ServiceEnabled": true,
		"SessionTimeout": int(sessionIdle.Seconds()),
		"Sessions":       odata("/redfish/v1/SessionService/Sessions"),
	})
}

func (r *redfish) sessionList(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	members := []map[string]string{}
	for id := range r.sessions {
		members = append(members, odata("/redfish/v1/SessionService/Sessions/"+id))
	}
	r.mu.Unlock()
	writeJSON(w, http.StatusOK, collection("/redfish/v1/SessionService/Sessions", "#SessionCollection.SessionCollection", "Sessions", members))
}

func collection(id, typ, name string, members []map[string]string) map[string]any {
	return map[string]any{
		"@odata.type": typ, "@odata.id": id, "Name": name,
		"Members": members, "Members@odata.count": len(members),
	}
}

func (r *redfish) sessionGet(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	r.mu.Lock()
	_, ok := r.sessions[id]
	r.mu.Unlock()
	if !ok {
		rfError(w, http.StatusNotFound, "Base.1.0.ResourceMissingAtURI", "no session "+id)
		return
	}
	writeJSON(w, http.StatusOK, r.sessionJSON(id))
}

func (r *redfish) sessionDelete(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	r.mu.Lock()
	_, ok := r.sessions[id]
	delete(r.sessions, id)
	r.mu.Unlock()
	if !ok {
		rfError(w, http.StatusNotFound, "Base.1.0.ResourceMissingAtURI", "no session "+id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *redfish) systemList(w http.ResponseWriter, _ *http.Request) {
	members := []map[string]string{}
	for _, id := range r.order {
		members = append(members, odata("/redfish/v1/Systems/"+id))
	}
	writeJSON(w, http.StatusOK, collection("/redfish/v1/Systems", "#ComputerSystemCollection.ComputerSystemCollection", "Computer System Collection", members))
}

func (r *redfish) system(w http.ResponseWriter, req *http.Request) (*System, string, bool) {
	id := strings.ToLower(req.PathValue("id"))
	s, ok := r.systems[id]
	if !ok {
		rfError(w, http.StatusNotFound, "Base.1.0.ResourceMissingAtURI", "no system "+req.PathValue("id"))
	}
	return s, id, ok
}

// systemJSON renders a system and its ETag, a hash of the rendering.
func systemJSON(ctx context.Context, s *System, id string) (map[string]any, string, error) {
	st, err := s.PowerState(ctx)
	if err != nil {
		return nil, "", err
	}
	o := s.Override()
	target, enabled, mode := "None", "Disabled", "Legacy"
	switch o.Device {
	case power.BootNetwork:
		target = "Pxe"
	case power.BootDisk:
		target = "Hdd"
	}
	if o.Device != "" {
		enabled = "Continuous"
		if o.Once {
			enabled = "Once"
		}
	}
	if o.UEFI {
		mode = "UEFI"
	}
	powerState := "Off"
	if st == power.On {
		powerState = "On"
	}
	self := "/redfish/v1/Systems/" + id
	v := map[string]any{
		"@odata.type": "#ComputerSystem.v1_10_0.ComputerSystem",
		"@odata.id":   self,
		"Id":          id, "Name": s.Name, "UUID": id, "SystemType": "Virtual",
		"PowerState": powerState,
		"Boot": map[string]any{
			"BootSourceOverrideTarget":                          target,
			"BootSourceOverrideTarget@Redfish.AllowableValues":  redfishTargets,
			"BootSourceOverrideEnabled":                         enabled,
			"BootSourceOverrideEnabled@Redfish.AllowableValues": redfishEnabled,
			"BootSourceOverrideMode":                            mode,
			"BootSourceOverrideMode@Redfish.AllowableValues":    redfishModes,
		},
		"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{
			"target":                            self + "/Actions/ComputerSystem.Reset",
			"ResetType@Redfish.AllowableValues": redfishResetOrder,
		}},
	}
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	v["@odata.etag"] = etag
	return v, etag, nil
}

func (r *redfish) systemGet(w http.ResponseWriter, req *http.Request) {
	s, id, ok := r.system(w, req)
	if !ok {
		return
	}
	v, etag, err := systemJSON(req.Context(), s, id)
	if err != nil {
		rfError(w, http.StatusInternalServerError, "Base.1.0.InternalError", err.Error())
		return
	}
	w.Header().Set("ETag", etag)
	writeJSON(w, http.StatusOK, v)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (r *redfish) systemPatch(w http.ResponseWriter, req *http.Request) {
	s, id, ok := r.system(w, req)
	if !ok {
		return
	}
	_, etag, err := systemJSON(req.Context(), s, id)
	if err != nil {
		rfError(w, http.StatusInternalServerError, "Base.1.0.InternalError", err.Error())
		return
	}
	if m := req.Header.Get("If-Match"); m != "" && m != "*" && strings.TrimPrefix(m, "W/") != etag && m != strings.Trim(etag, `"`) {
		rfError(w, http.StatusPreconditionFailed, "Base.1.0.PreconditionFailed", "If-Match "+m+" does not match the current ETag "+etag)
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 64<<10)).Decode(&body); err != nil {
		rfError(w, http.StatusBadRequest, "Base.1.0.MalformedJSON", "PATCH body: "+err.Error())
		return
	}
	for k := range body {
		if k != "Boot" && !strings.HasPrefix(k, "@") {
			rfError(w, http.StatusBadRequest, "Base.1.0.PropertyNotWritable", "property "+k+" is not writable")
			return
		}
	}
	var boot map[string]string
	if raw, ok := body["Boot"]; ok {
		if err := json.Unmarshal(raw, &boot); err != nil {
			rfError(w, http.StatusBadRequest, "Base.1.0.PropertyValueTypeError", "Boot: "+err.Error())
			return
		}
	}
	cur := s.Override()
	target, enabled, mode := "", "", ""
	for k, v := range boot {
		var allowed []string
		switch k {
		case "BootSourceOverrideTarget":
			target, allowed = v, redfishTargets
		case "BootSourceOverrideEnabled":
			enabled, allowed = v, redfishEnabled
		case "BootSourceOverrideMode":
			mode, allowed = v, redfishModes
		default:
			rfError(w, http.StatusBadRequest, "Base.1.0.PropertyNotWritable", "property Boot/"+k+" is not writable")
			return
		}
		if !contains(allowed, v) {
			rfError(w, http.StatusBadRequest, "Base.1.0.PropertyValueNotInList",
				fmt.Sprintf("Boot/%s: %q is not one of %s", k, v, strings.Join(allowed, ", ")))
			return
		}
	}
	o := cur
	switch target {
	case "Pxe":
		o.Device = power.BootNetwork
	case "Hdd":
		o.Device = power.BootDisk
	case "None":
		o.Device = ""
	}
	switch enabled {
	case "Disabled":
		o.Device = ""
	case "Once":
		o.Once = true
	case "Continuous":
		o.Once = false
	case "":
		if cur.Device == "" {
			o.Once = true // a new target with no Enabled: the next boot only
		}
	}
	switch mode {
	case "UEFI":
		o.UEFI = true
	case "Legacy":
		o.UEFI = false
	}
	if o != cur {
		if err := s.SetOverride(req.Context(), o); err != nil {
			rfError(w, http.StatusInternalServerError, "Base.1.0.InternalError", err.Error())
			return
		}
	}
	r.systemGet(w, req)
}

func (r *redfish) systemReset(w http.ResponseWriter, req *http.Request) {
	s, _, ok := r.system(w, req)
	if !ok {
		return
	}
	var body struct{ ResetType string }
	if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 4096)).Decode(&body); err != nil {
		rfError(w, http.StatusBadRequest, "Base.1.0.MalformedJSON", "reset body: "+err.Error())
		return
	}
	a, ok := redfishResetTypes[body.ResetType]
	if !ok {
		rfError(w, http.StatusBadRequest, "Base.1.0.ActionParameterNotSupported",
			fmt.Sprintf("ResetType %q is not one of %s", body.ResetType, strings.Join(redfishResetOrder, ", ")))
		return
	}
	if err := s.SetPower(req.Context(), a); err != nil {
		rfError(w, http.StatusInternalServerError, "Base.1.0.InternalError", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
