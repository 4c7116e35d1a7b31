package virtual

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// privilege is a Redfish privilege; a role is a set of them.
type privilege string

const (
	privLogin               privilege = "Login"
	privConfigureManager    privilege = "ConfigureManager"
	privConfigureUsers      privilege = "ConfigureUsers"
	privConfigureComponents privilege = "ConfigureComponents"
	privConfigureSelf       privilege = "ConfigureSelf"
)

// rfRoles are Redfish's predefined roles, the only ones this BMC has.
var rfRoles = []struct {
	id    string
	privs []privilege
}{
	{"Administrator", []privilege{privLogin, privConfigureManager, privConfigureUsers, privConfigureComponents, privConfigureSelf}},
	{"Operator", []privilege{privLogin, privConfigureComponents, privConfigureSelf}},
	{"ReadOnly", []privilege{privLogin, privConfigureSelf}},
}

func rolePrivileges(role string) ([]privilege, bool) {
	for _, r := range rfRoles {
		if r.id == role {
			return r.privs, true
		}
	}
	return nil, false
}

// Limits of accounts, those of an IPMI BMC's user table, so that an
// account could be mirrored there.
const (
	maxAccounts       = 16
	maxUserNameLength = 16
	minPasswordLength = 8
	maxPasswordLength = 20
)

type rfAccount struct {
	id, user, password, role string
	enabled                  bool
	passwordChangeRequired   bool
	lab                      bool // the lab's own account: read-only here
}

// caller is who sent an authenticated request: a copy of their account as
// it was then, and the session used ("" for basic authentication).
type caller struct {
	account rfAccount
	session string
}

func (c *caller) can(p privilege) bool {
	privs, _ := rolePrivileges(c.account.role)
	return slices.Contains(privs, p)
}

func accountURI(id string) string { return "/redfish/v1/AccountService/Accounts/" + id }
func roleURI(id string) string    { return "/redfish/v1/AccountService/Roles/" + id }

// authenticated admits a request with a live session token or valid basic
// credentials whose role holds priv. An account that must change its
// password may only read and change itself and end its own session.
func (r *redfish) authenticated(priv privilege, next func(http.ResponseWriter, *http.Request, *caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c := r.caller(req)
		if c == nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="labctl"`)
			rfError(w, http.StatusUnauthorized, "NoValidSession", "a valid session or credentials are required")
			return
		}
		if c.account.passwordChangeRequired && !beforePasswordChange(req, c) {
			rfError(w, http.StatusForbidden, "PasswordChangeRequired",
				"the password of "+c.account.user+" must be changed first (PATCH Password at "+accountURI(c.account.id)+")")
			return
		}
		if !c.can(priv) {
			rfError(w, http.StatusForbidden, "InsufficientPrivilege",
				fmt.Sprintf("%s %s needs privilege %s, which role %s lacks", req.Method, req.URL.Path, priv, c.account.role))
			return
		}
		next(w, req, c)
	})
}

func beforePasswordChange(req *http.Request, c *caller) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPatch:
		return req.URL.Path == accountURI(c.account.id)
	case http.MethodDelete:
		return c.session != "" && req.URL.Path == sessionURI(c.session)
	}
	return false
}

// caller finds who sent req, or nil.
func (r *redfish) caller(req *http.Request) *caller {
	if tok := req.Header.Get("X-Auth-Token"); tok != "" {
		return r.sessionCaller(tok)
	}
	if u, p, ok := req.BasicAuth(); ok {
		if a, ok := r.validCred(u, p); ok {
			return &caller{account: a}
		}
	}
	return nil
}

// validCred returns the enabled account with user name u and password p.
func (r *redfish) validCred(u, p string) (rfAccount, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var found *rfAccount
	for _, a := range r.accounts {
		uok := subtle.ConstantTimeCompare([]byte(u), []byte(a.user)) == 1
		pok := subtle.ConstantTimeCompare([]byte(p), []byte(a.password)) == 1
		if uok && pok && a.enabled {
			found = a
		}
	}
	if found == nil {
		return rfAccount{}, false
	}
	return *found, true
}

func (r *redfish) accountRoutes() {
	r.handle("/redfish/v1/AccountService", methods{"GET": need(privLogin, r.accountService)})
	accounts := methods{"GET": need(privLogin, r.accountList), "POST": need(privConfigureUsers, r.accountCreate)}
	r.handle("/redfish/v1/AccountService/Accounts", accounts)
	r.handle("/redfish/v1/AccountService/Accounts/Members", methods{"POST": accounts["POST"]})
	r.handle("/redfish/v1/AccountService/Accounts/{id}", methods{
		"GET":    need(privLogin, r.accountGet),
		"PATCH":  need(privConfigureSelf, r.accountPatch),
		"DELETE": need(privConfigureUsers, r.accountDelete),
	})
	r.handle("/redfish/v1/AccountService/Roles", methods{"GET": need(privLogin, r.roleList)})
	r.handle("/redfish/v1/AccountService/Roles/{id}", methods{"GET": need(privLogin, r.roleGet)})
}

func (r *redfish) accountService(w http.ResponseWriter, _ *http.Request, _ *caller) {
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":       odataType("AccountService"),
		"@odata.id":         "/redfish/v1/AccountService",
		"Id":                "AccountService",
		"Name":              "Account Service",
		"ServiceEnabled":    true,
		"LocalAccountAuth":  "Enabled",
		"MinPasswordLength": minPasswordLength,
		"MaxPasswordLength": maxPasswordLength,
		"Accounts":          odata("/redfish/v1/AccountService/Accounts"),
		"Roles":             odata("/redfish/v1/AccountService/Roles"),
	})
}

func accountJSON(a rfAccount) map[string]any {
	return map[string]any{
		"@odata.type":            odataType("ManagerAccount"),
		"@odata.id":              accountURI(a.id),
		"Id":                     a.id,
		"Name":                   "User Account",
		"UserName":               a.user,
		"Password":               nil, // never shown
		"RoleId":                 a.role,
		"Enabled":                a.enabled,
		"Locked":                 false,
		"PasswordChangeRequired": a.passwordChangeRequired,
		"AccountTypes":           []string{"Redfish"},
		"Links":                  map[string]any{"Role": odata(roleURI(a.role))},
	}
}

// accountList lists every account to a caller who may configure users,
// and only their own to others.
func (r *redfish) accountList(w http.ResponseWriter, req *http.Request, c *caller) {
	r.mu.Lock()
	var ids []string
	for id := range r.accounts {
		if c.can(privConfigureUsers) || id == c.account.id {
			ids = append(ids, id)
		}
	}
	r.mu.Unlock()
	slices.SortFunc(ids, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
	members := []map[string]string{}
	for _, id := range ids {
		members = append(members, odata(accountURI(id)))
	}
	r.writeCollection(w, req, "/redfish/v1/AccountService/Accounts", "ManagerAccountCollection", "Accounts", members)
}

// account returns the account at req's {id} for a caller allowed to see it
// (their own, or any with ConfigureUsers); otherwise it answers.
func (r *redfish) account(w http.ResponseWriter, req *http.Request, c *caller) (rfAccount, bool) {
	id := req.PathValue("id")
	r.mu.Lock()
	a, ok := r.accounts[id]
	var cp rfAccount
	if ok {
		cp = *a
	}
	r.mu.Unlock()
	switch {
	case !ok:
		rfError(w, http.StatusNotFound, "ResourceNotFound", "no account "+id, "ManagerAccount", id)
	case id != c.account.id && !c.can(privConfigureUsers):
		rfError(w, http.StatusForbidden, "InsufficientPrivilege",
			fmt.Sprintf("account %s is not %s's, and role %s lacks privilege ConfigureUsers", id, c.account.user, c.account.role))
		ok = false
	}
	return cp, ok
}

func (r *redfish) accountGet(w http.ResponseWriter, req *http.Request, c *caller) {
	a, ok := r.account(w, req, c)
	if !ok {
		return
	}
	if a.lab {
		w.Header().Set("Allow", "GET, HEAD")
	}
	writeJSON(w, http.StatusOK, accountJSON(a))
}

// changeableAccount is account for a change: the lab's account is refused,
// since labctl's clients read its password from the lab directory.
func (r *redfish) changeableAccount(w http.ResponseWriter, req *http.Request, c *caller) (rfAccount, bool) {
	a, ok := r.account(w, req, c)
	if ok && a.lab {
		w.Header().Set("Allow", "GET, HEAD")
		rfError(w, http.StatusMethodNotAllowed, "OperationNotAllowed",
			req.Method+" "+req.URL.Path+": the lab's account is managed by labctl (its password is the lab's bmc-password file)")
		return a, false
	}
	return a, ok
}

// accountFields are a ManagerAccount's properties a client may set.
type accountFields struct {
	UserName               *string
	Password               *string
	RoleId                 *string
	Enabled                *bool
	PasswordChangeRequired *bool
}

var accountReadOnly = []string{"Id", "Name", "Description", "Links", "AccountTypes", "Locked"}

// accountFieldsFrom checks body's properties: all known, writable and of
// the right type and value. It answers the first fault.
func accountFieldsFrom(w http.ResponseWriter, body map[string]json.RawMessage) (accountFields, bool) {
	var f accountFields
	for k, raw := range body {
		var dst any
		switch k {
		case "UserName":
			dst = &f.UserName
		case "Password":
			dst = &f.Password
		case "RoleId":
			dst = &f.RoleId
		case "Enabled":
			dst = &f.Enabled
		case "PasswordChangeRequired":
			dst = &f.PasswordChangeRequired
		default:
			if slices.Contains(accountReadOnly, k) {
				rfError(w, http.StatusBadRequest, "PropertyNotWritable", "property "+k+" is read-only", k)
			} else {
				rfError(w, http.StatusBadRequest, "PropertyUnknown", "property "+k+" is not a property of ManagerAccount", k)
			}
			return f, false
		}
		if err := json.Unmarshal(raw, dst); err != nil || string(raw) == "null" {
			val := string(raw)
			if k == "Password" {
				val = "(hidden)"
			}
			rfError(w, http.StatusBadRequest, "PropertyValueTypeError", fmt.Sprintf("property %s: %s is not of its type", k, val), val, k)
			return f, false
		}
	}
	bad := func(prop, val, why string) (accountFields, bool) {
		rfError(w, http.StatusBadRequest, "PropertyValueFormatError", prop+": "+why, val, prop)
		return f, false
	}
	if u := f.UserName; u != nil && (*u == "" || len(*u) > maxUserNameLength || strings.ContainsAny(*u, ": ")) {
		return bad("UserName", *u, fmt.Sprintf("a user name has 1 to %d characters, no colon or space", maxUserNameLength))
	}
	if p := f.Password; p != nil && (len(*p) < minPasswordLength || len(*p) > maxPasswordLength) {
		return bad("Password", "", fmt.Sprintf("a password has %d to %d characters", minPasswordLength, maxPasswordLength))
	}
	if role := f.RoleId; role != nil {
		if _, ok := rolePrivileges(*role); !ok {
			rfError(w, http.StatusBadRequest, "PropertyValueNotInList",
				fmt.Sprintf("RoleId %q is not one of Administrator, Operator, ReadOnly", *role), *role, "RoleId")
			return f, false
		}
	}
	return f, true
}

// userNameTaken reports whether another account than id has user name u;
// r.mu is held.
func (r *redfish) userNameTaken(u, id string) bool {
	for _, a := range r.accounts {
		if a.user == u && a.id != id {
			return true
		}
	}
	return false
}

func (r *redfish) accountCreate(w http.ResponseWriter, req *http.Request, _ *caller) {
	var body map[string]json.RawMessage
	if !decodeBody(w, req, 4096, &body) {
		return
	}
	f, ok := accountFieldsFrom(w, body)
	if !ok {
		return
	}
	for prop, v := range map[string]*string{"UserName": f.UserName, "Password": f.Password, "RoleId": f.RoleId} {
		if v == nil {
			rfError(w, http.StatusBadRequest, "CreateFailedMissingReqProperties", "a new account needs "+prop, prop)
			return
		}
	}
	a := &rfAccount{user: *f.UserName, password: *f.Password, role: *f.RoleId, enabled: true}
	if f.Enabled != nil {
		a.enabled = *f.Enabled
	}
	if f.PasswordChangeRequired != nil {
		a.passwordChangeRequired = *f.PasswordChangeRequired
	}
	r.mu.Lock()
	switch {
	case len(r.accounts) >= maxAccounts:
		r.mu.Unlock()
		rfError(w, http.StatusBadRequest, "CreateLimitReachedForResource", fmt.Sprintf("this BMC holds at most %d accounts", maxAccounts))
		return
	case r.userNameTaken(a.user, ""):
		r.mu.Unlock()
		rfError(w, http.StatusConflict, "ResourceAlreadyExists", "an account "+a.user+" exists", "ManagerAccount", "UserName", a.user)
		return
	}
	r.lastID++
	a.id = strconv.Itoa(r.lastID)
	r.accounts[a.id] = a
	cp := *a
	r.mu.Unlock()
	w.Header().Set("Location", accountURI(cp.id))
	writeJSON(w, http.StatusCreated, accountJSON(cp))
}

// accountPatch changes an account, all of the request or none of it. A
// caller without ConfigureUsers may change only their own password.
func (r *redfish) accountPatch(w http.ResponseWriter, req *http.Request, c *caller) {
	a, ok := r.changeableAccount(w, req, c)
	if !ok {
		return
	}
	if !ifMatch(w, req, etagOf(accountJSON(a))) {
		return
	}
	body, ok := patchBody(w, req)
	if !ok {
		return
	}
	f, ok := accountFieldsFrom(w, body)
	if !ok {
		return
	}
	if !c.can(privConfigureUsers) {
		for k := range body {
			if k != "Password" {
				rfError(w, http.StatusForbidden, "InsufficientPrivilege",
					fmt.Sprintf("role %s may change only its own password, not %s", c.account.role, k))
				return
			}
		}
	}
	r.mu.Lock()
	cur, ok := r.accounts[a.id]
	if !ok {
		r.mu.Unlock()
		rfError(w, http.StatusNotFound, "ResourceNotFound", "no account "+a.id, "ManagerAccount", a.id)
		return
	}
	if f.UserName != nil && r.userNameTaken(*f.UserName, a.id) {
		r.mu.Unlock()
		rfError(w, http.StatusConflict, "ResourceAlreadyExists", "an account "+*f.UserName+" exists", "ManagerAccount", "UserName", *f.UserName)
		return
	}
	if f.UserName != nil {
		cur.user = *f.UserName
	}
	if f.Password != nil {
		cur.password = *f.Password
		cur.passwordChangeRequired = false
	}
	if f.RoleId != nil {
		cur.role = *f.RoleId
	}
	if f.Enabled != nil {
		cur.enabled = *f.Enabled
	}
	if f.PasswordChangeRequired != nil {
		cur.passwordChangeRequired = *f.PasswordChangeRequired
	}
	cp := *cur
	r.mu.Unlock()
	writeJSON(w, http.StatusOK, accountJSON(cp))
}

// accountDelete removes an account and ends its sessions.
func (r *redfish) accountDelete(w http.ResponseWriter, req *http.Request, c *caller) {
	a, ok := r.changeableAccount(w, req, c)
	if !ok {
		return
	}
	r.mu.Lock()
	delete(r.accounts, a.id)
	for id, s := range r.sessions {
		if s.account == a.id {
			delete(r.sessions, id)
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *redfish) roleList(w http.ResponseWriter, req *http.Request, _ *caller) {
	members := []map[string]string{}
	for _, role := range rfRoles {
		members = append(members, odata(roleURI(role.id)))
	}
	r.writeCollection(w, req, "/redfish/v1/AccountService/Roles", "RoleCollection", "Roles", members)
}

// roleGet shows a predefined role; none can be changed.
func (r *redfish) roleGet(w http.ResponseWriter, req *http.Request, _ *caller) {
	id := req.PathValue("id")
	privs, ok := rolePrivileges(id)
	if !ok {
		rfError(w, http.StatusNotFound, "ResourceNotFound", "no role "+id, "Role", id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":        odataType("Role"),
		"@odata.id":          roleURI(id),
		"Id":                 id,
		"Name":               id + " role",
		"RoleId":             id,
		"IsPredefined":       true,
		"AssignedPrivileges": privs,
		"OemPrivileges":      []string{},
	})
}
