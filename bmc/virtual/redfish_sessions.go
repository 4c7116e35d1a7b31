package virtual

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"time"
)

type rfSession struct {
	id, token string
	account   string // Id of the account that opened it
	seen      time.Time
}

func sessionURI(id string) string { return "/redfish/v1/SessionService/Sessions/" + id }

func (r *redfish) sessionRoutes() {
	login := public(r.login)
	r.handle("/redfish/v1/SessionService", methods{"GET": need(privLogin, r.sessionService)})
	r.handle("/redfish/v1/SessionService/Sessions", methods{"GET": need(privLogin, r.sessionList), "POST": login})
	// A collection's Members URI takes the same POST as the collection.
	r.handle("/redfish/v1/SessionService/Sessions/Members", methods{"POST": login})
	r.handle("/redfish/v1/SessionService/Sessions/{id}", methods{
		"GET":    need(privLogin, r.sessionGet),
		"DELETE": need(privLogin, r.sessionDelete),
	})
}

// sessionCaller returns the caller whose live session has token tok, or
// nil; sessions idle too long end here.
func (r *redfish) sessionCaller(tok string) *caller {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	var c *caller
	for id, s := range r.sessions {
		if now.Sub(s.seen) > sessionIdle {
			delete(r.sessions, id)
			continue
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1 {
			a, ok := r.accounts[s.account]
			if !ok || !a.enabled {
				continue
			}
			s.seen = now
			c = &caller{account: *a, session: id}
		}
	}
	return c
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// login opens a session. An account that must change its password gets
// one, with a message saying so, and can do nothing else until it has.
func (r *redfish) login(w http.ResponseWriter, req *http.Request, _ *caller) {
	var body struct{ UserName, Password string }
	if !decodeBody(w, req, 4096, &body) {
		return
	}
	a, ok := r.validCred(body.UserName, body.Password)
	if !ok {
		rfError(w, http.StatusUnauthorized, "NoValidSession", "wrong user name or password")
		return
	}
	s := &rfSession{id: randomHex(8), token: randomHex(32), account: a.id, seen: time.Now()}
	r.mu.Lock()
	r.sessions[s.id] = s
	r.mu.Unlock()
	v := sessionJSON(s.id, a.user)
	if a.passwordChangeRequired {
		v["@Message.ExtendedInfo"] = []map[string]any{message("PasswordChangeRequired",
			"the password of "+a.user+" must be changed (PATCH Password at "+accountURI(a.id)+")", accountURI(a.id))}
	}
	w.Header().Set("X-Auth-Token", s.token)
	w.Header().Set("Location", sessionURI(s.id))
	writeJSON(w, http.StatusCreated, v)
}

func sessionJSON(id, user string) map[string]any {
	return map[string]any{
		"@odata.type": odataType("Session"),
		"@odata.id":   sessionURI(id),
		"Id":          id, "Name": "User Session", "UserName": user,
	}
}

func (r *redfish) sessionService(w http.ResponseWriter, _ *http.Request, _ *caller) {
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":    odataType("SessionService"),
		"@odata.id":      "/redfish/v1/SessionService",
		"Id":             "SessionService",
		"Name":           "Session Service",
		"ServiceEnabled": true,
		"SessionTimeout": int(sessionIdle.Seconds()),
		"Sessions":       odata("/redfish/v1/SessionService/Sessions"),
	})
}

// mayManage reports whether c may see or end session s: their own
// account's, or any with ConfigureManager.
func (c *caller) mayManage(s *rfSession) bool {
	return s.account == c.account.id || c.can(privConfigureManager)
}

func (r *redfish) sessionList(w http.ResponseWriter, req *http.Request, c *caller) {
	r.mu.Lock()
	members := []map[string]string{}
	for id, s := range r.sessions {
		if c.mayManage(s) {
			members = append(members, odata(sessionURI(id)))
		}
	}
	r.mu.Unlock()
	r.writeCollection(w, req, "/redfish/v1/SessionService/Sessions", "SessionCollection", "Sessions", members)
}

// session returns the session at req's {id} and its user name if c may
// see it; otherwise it answers 404, so that others' sessions stay unknown.
func (r *redfish) session(w http.ResponseWriter, req *http.Request, c *caller) (string, bool) {
	id := req.PathValue("id")
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sessions[id]
	if !ok || !c.mayManage(s) {
		rfError(w, http.StatusNotFound, "ResourceNotFound", "no session "+id, "Session", id)
		return "", false
	}
	user := ""
	if a, ok := r.accounts[s.account]; ok {
		user = a.user
	}
	return user, true
}

func (r *redfish) sessionGet(w http.ResponseWriter, req *http.Request, c *caller) {
	if user, ok := r.session(w, req, c); ok {
		writeJSON(w, http.StatusOK, sessionJSON(req.PathValue("id"), user))
	}
}

func (r *redfish) sessionDelete(w http.ResponseWriter, req *http.Request, c *caller) {
	if _, ok := r.session(w, req, c); !ok {
		return
	}
	r.mu.Lock()
	delete(r.sessions, req.PathValue("id"))
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
