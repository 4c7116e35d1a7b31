package virtual_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/labctl/labctl/internal/power"
)

func TestRedfishPredefinedRoles(t *testing.T) {
	b := startRedfish(t)
	want := map[string][]string{
		"Administrator": {"ConfigureComponents", "ConfigureManager", "ConfigureSelf", "ConfigureUsers", "Login"},
		"Operator":      {"ConfigureComponents", "ConfigureSelf", "Login"},
		"ReadOnly":      {"ConfigureSelf", "Login"},
	}
	list := b.do(t, "GET", "/redfish/v1/AccountService/Roles", "", admin, nil)
	if n := list.body["Members@odata.count"]; n != float64(len(want)) {
		t.Errorf("%v roles, want %d", n, len(want))
	}
	for _, m := range list.body["Members"].([]any) {
		r := b.do(t, "GET", m.(map[string]any)["@odata.id"].(string), "", admin, nil)
		id, _ := r.body["Id"].(string)
		var privs []string
		for _, p := range r.body["AssignedPrivileges"].([]any) {
			privs = append(privs, p.(string))
		}
		slices.Sort(privs)
		if !slices.Equal(privs, want[id]) || r.body["IsPredefined"] != true {
			t.Errorf("role %s: privileges %v, IsPredefined %v; want %v", id, privs, r.body["IsPredefined"], want[id])
		}
		delete(want, id)
	}
	if len(want) > 0 {
		t.Errorf("roles missing: %v", want)
	}
}

func TestRedfishLabAccount(t *testing.T) {
	b := startRedfish(t)
	list := b.do(t, "GET", "/redfish/v1/AccountService/Accounts", "", admin, nil)
	members := list.body["Members"].([]any)
	if len(members) != 1 || members[0].(map[string]any)["@odata.id"] != "/redfish/v1/AccountService/Accounts/1" {
		t.Fatalf("accounts %s", list.raw)
	}
	a := b.do(t, "GET", "/redfish/v1/AccountService/Accounts/1", "", admin, nil)
	if a.body["UserName"] != testCred.Username || a.body["RoleId"] != "Administrator" || a.body["Password"] != nil || a.header.Get("ETag") == "" {
		t.Errorf("lab account %s (ETag %q)", a.raw, a.header.Get("ETag"))
	}
	r := b.do(t, "PATCH", "/redfish/v1/AccountService/Accounts/1", `{"Password":"an0ther-pass"}`, admin, nil)
	if r.status != http.StatusMethodNotAllowed {
		t.Errorf("PATCH of the lab account: status %d", r.status)
	}
	if b.do(t, "GET", "/redfish/v1/Systems", "", admin, nil).status != http.StatusOK {
		t.Error("the lab's password no longer works")
	}
}

// createAccount makes an account through the lab's and returns its URI.
func (b redfishBMC) createAccount(t *testing.T, user, pass, role string) string {
	t.Helper()
	r := b.do(t, "POST", "/redfish/v1/AccountService/Accounts",
		`{"UserName":"`+user+`","Password":"`+pass+`","RoleId":"`+role+`"}`, admin, nil)
	if r.status != http.StatusCreated || r.header.Get("Location") == "" || r.body["UserName"] != user || r.body["RoleId"] != role {
		t.Fatalf("create %s: status %d, Location %q: %s", user, r.status, r.header.Get("Location"), r.raw)
	}
	return r.header.Get("Location")
}

// login opens a session and returns its token and URI.
func (b redfishBMC) login(t *testing.T, user, pass string) (rfReply, string, string) {
	t.Helper()
	r := b.do(t, "POST", "/redfish/v1/SessionService/Sessions", `{"UserName":"`+user+`","Password":"`+pass+`"}`, nil, nil)
	return r, r.header.Get("X-Auth-Token"), r.header.Get("Location")
}

func TestRedfishAccountCreateRefusals(t *testing.T) {
	b := startRedfish(t)
	b.createAccount(t, "taken", "Passw0rd-1", "Operator")
	cases := []struct {
		name, body string
		auth       rfAuth
		want       int
		message    string
	}{
		{"duplicate user", `{"UserName":"taken","Password":"Passw0rd-2","RoleId":"ReadOnly"}`, admin, 409, "ResourceAlreadyExists"},
		{"unknown role", `{"UserName":"u1","Password":"Passw0rd-2","RoleId":"Root"}`, admin, 400, "PropertyValueNotInList"},
		{"short password", `{"UserName":"u1","Password":"short","RoleId":"ReadOnly"}`, admin, 400, "PropertyValueFormatError"},
		{"long user name", `{"UserName":"abcdefghijklmnopq","Password":"Passw0rd-2","RoleId":"ReadOnly"}`, admin, 400, "PropertyValueFormatError"},
		{"colon in user name", `{"UserName":"a:b","Password":"Passw0rd-2","RoleId":"ReadOnly"}`, admin, 400, "PropertyValueFormatError"},
		{"no role", `{"UserName":"u1","Password":"Passw0rd-2"}`, admin, 400, "CreateFailedMissingReqProperties"},
		{"unknown property", `{"UserName":"u1","Password":"Passw0rd-2","RoleId":"ReadOnly","Shell":"/bin/sh"}`, admin, 400, "PropertyUnknown"},
		{"read-only property", `{"UserName":"u1","Password":"Passw0rd-2","RoleId":"ReadOnly","Id":"7"}`, admin, 400, "PropertyNotWritable"},
		{"wrong type", `{"UserName":"u1","Password":"Passw0rd-2","RoleId":"ReadOnly","Enabled":"yes"}`, admin, 400, "PropertyValueTypeError"},
		{"without ConfigureUsers", `{"UserName":"u1","Password":"Passw0rd-2","RoleId":"ReadOnly"}`, basic("taken", "Passw0rd-1"), 403, "InsufficientPrivilege"},
		{"without auth", `{"UserName":"u1","Password":"Passw0rd-2","RoleId":"ReadOnly"}`, nil, 401, "NoValidSession"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(t, "POST", "/redfish/v1/AccountService/Accounts", tc.body, tc.auth, nil)
			if r.status != tc.want || !r.hasMessage(tc.message) {
				t.Errorf("status %d, messages %v; want %d %s", r.status, r.messageIDs(), tc.want, tc.message)
			}
		})
	}
	list := b.do(t, "GET", "/redfish/v1/AccountService/Accounts", "", admin, nil)
	if n := list.body["Members@odata.count"]; n != float64(2) {
		t.Errorf("%v accounts after refused creations, want 2: %s", n, list.raw)
	}
}

// Roles decide what an account may do: a ReadOnly account reads, changes
// its own password and nothing else; an Operator drives machines.
func TestRedfishAccountPrivileges(t *testing.T) {
	b := startRedfish(t)
	ro := b.createAccount(t, "viewer", "Passw0rd-1", "ReadOnly")
	b.createAccount(t, "operator", "Passw0rd-2", "Operator")
	viewer, operator := basic("viewer", "Passw0rd-1"), basic("operator", "Passw0rd-2")
	sys := "/redfish/v1/Systems/" + testUUID
	cases := []struct {
		name, method, path, body string
		auth                     rfAuth
		want                     int
	}{
		{"viewer reads a system", "GET", sys, "", viewer, 200},
		{"viewer may not reset", "POST", sys + "/Actions/ComputerSystem.Reset", `{"ResetType":"On"}`, viewer, 403},
		{"viewer may not set boot", "PATCH", sys, `{"Boot":{"BootSourceOverrideTarget":"Pxe"}}`, viewer, 403},
		{"viewer may not read the lab account", "GET", "/redfish/v1/AccountService/Accounts/1", "", viewer, 403},
		{"viewer may not raise its role", "PATCH", ro, `{"RoleId":"Administrator"}`, viewer, 403},
		{"viewer may not delete itself", "DELETE", ro, "", viewer, 403},
		{"viewer changes its password", "PATCH", ro, `{"Password":"Passw0rd-3"}`, viewer, 200},
		{"old password refused", "GET", sys, "", viewer, 401},
		{"operator sets boot", "PATCH", sys, `{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}`, operator, 200},
		{"operator resets", "POST", sys + "/Actions/ComputerSystem.Reset", `{"ResetType":"On"}`, operator, 204},
		{"operator may not change others", "PATCH", ro, `{"Password":"Passw0rd-4"}`, operator, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(t, tc.method, tc.path, tc.body, tc.auth, nil)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			if tc.want == 403 && !r.hasMessage("InsufficientPrivilege") {
				t.Errorf("messages %v, want InsufficientPrivilege", r.messageIDs())
			}
		})
	}
	if boots := b.m.Boots(); len(boots) != 1 || boots[0] != power.BootNetwork {
		t.Errorf("boots %v, want the operator's one network boot", boots)
	}
	// The account list shows a ReadOnly caller only itself.
	list := b.do(t, "GET", "/redfish/v1/AccountService/Accounts", "", basic("viewer", "Passw0rd-3"), nil)
	if n := list.body["Members@odata.count"]; n != float64(1) {
		t.Errorf("viewer sees %v accounts, want itself only: %s", n, list.raw)
	}
}

// PATCH of an account: ETags guard it, faults leave it unchanged.
func TestRedfishAccountPatch(t *testing.T) {
	b := startRedfish(t)
	uri := b.createAccount(t, "user1", "Passw0rd-1", "ReadOnly")
	etag := b.do(t, "GET", uri, "", admin, nil).header.Get("ETag")
	cases := []struct {
		name, body string
		header     map[string]string
		want       int
		message    string
	}{
		{"stale If-Match", `{"RoleId":"Operator"}`, map[string]string{"If-Match": etag + "foobar"}, 412, "PreconditionFailed"},
		{"mixed known and unknown", `{"RoleId":"Operator","BogusProp":"foo"}`, nil, 400, "PropertyUnknown"},
		{"annotations only", `{"@odata.id":"` + uri + `/"}`, nil, 400, "NoOperation"},
		{"taken user name", `{"UserName":"admin"}`, nil, 409, "ResourceAlreadyExists"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(t, "PATCH", uri, tc.body, admin, tc.header)
			if r.status != tc.want || !r.hasMessage(tc.message) {
				t.Errorf("status %d, messages %v; want %d %s", r.status, r.messageIDs(), tc.want, tc.message)
			}
			if tc.name == "mixed known and unknown" && !slices.Contains(argsOf(r), "BogusProp") {
				t.Errorf("the error does not name BogusProp: %s", r.raw)
			}
		})
	}
	if now := b.do(t, "GET", uri, "", admin, nil); now.header.Get("ETag") != etag || now.body["RoleId"] != "ReadOnly" {
		t.Fatalf("account changed by refused requests: %s", now.raw)
	}
	r := b.do(t, "PATCH", uri, `{"RoleId":"Operator","UserName":"user2"}`, admin, map[string]string{"If-Match": etag})
	if r.status != http.StatusOK || r.body["RoleId"] != "Operator" || r.body["UserName"] != "user2" || r.header.Get("ETag") == etag {
		t.Errorf("PATCH with the current ETag: status %d, ETag %q: %s", r.status, r.header.Get("ETag"), r.raw)
	}
	if r := b.do(t, "PATCH", "/redfish/v1/AccountService/Accounts/99", `{"Enabled":false}`, admin, nil); r.status != http.StatusNotFound {
		t.Errorf("PATCH of a missing account: status %d", r.status)
	}
}

func argsOf(r rfReply) []string {
	var args []string
	e, _ := r.body["error"].(map[string]any)
	info, _ := e["@Message.ExtendedInfo"].([]any)
	for _, m := range info {
		for _, a := range m.(map[string]any)["MessageArgs"].([]any) {
			args = append(args, a.(string))
		}
	}
	return args
}

// An account that must change its password logs in, is told so, and may
// do nothing but read itself and change the password.
func TestRedfishPasswordChangeRequired(t *testing.T) {
	b := startRedfish(t)
	uri := b.createAccount(t, "newbie", "Passw0rd-1", "Operator")
	if r := b.do(t, "PATCH", uri, `{"PasswordChangeRequired":true}`, admin, nil); r.status != http.StatusOK || r.body["PasswordChangeRequired"] != true {
		t.Fatalf("set PasswordChangeRequired: %d %s", r.status, r.raw)
	}
	r, tok, _ := b.login(t, "newbie", "Passw0rd-1")
	if r.status != http.StatusCreated || tok == "" || !r.hasMessage("PasswordChangeRequired") {
		t.Fatalf("login: status %d, messages %v", r.status, r.messageIDs())
	}
	sys := "/redfish/v1/Systems/" + testUUID
	for _, auth := range []rfAuth{token(tok), basic("newbie", "Passw0rd-1")} {
		for _, tc := range []struct{ method, path, body string }{
			{"GET", "/redfish/v1/SessionService/Sessions", ""},
			{"GET", sys, ""},
			{"POST", sys + "/Actions/ComputerSystem.Reset", `{"ResetType":"On"}`},
		} {
			if r := b.do(t, tc.method, tc.path, tc.body, auth, nil); r.status != http.StatusForbidden || !r.hasMessage("PasswordChangeRequired") {
				t.Errorf("%s %s: status %d, messages %v; want 403 PasswordChangeRequired", tc.method, tc.path, r.status, r.messageIDs())
			}
		}
		if r := b.do(t, "GET", uri, "", auth, nil); r.status != http.StatusOK {
			t.Errorf("GET own account: status %d", r.status)
		}
	}
	if st, _ := b.m.PowerState(context.Background()); st != power.Off {
		t.Errorf("machine powered %s before the password change", st)
	}
	r = b.do(t, "PATCH", uri, `{"Password":"Passw0rd-2"}`, token(tok), nil)
	if r.status != http.StatusOK || r.body["PasswordChangeRequired"] != false {
		t.Fatalf("password change: status %d: %s", r.status, r.raw)
	}
	if r := b.do(t, "GET", sys, "", token(tok), nil); r.status != http.StatusOK {
		t.Errorf("after the change: status %d", r.status)
	}
}

func TestRedfishSessions(t *testing.T) {
	b := startRedfish(t)
	r, tok, loc := b.login(t, testCred.Username, testCred.Password)
	if r.status != http.StatusCreated || tok == "" || loc == "" {
		t.Fatalf("login: status %d, token %q, Location %q", r.status, tok, loc)
	}
	for _, prop := range []string{"@odata.id", "@odata.type", "Id", "Name", "UserName"} {
		if _, ok := r.body[prop]; !ok {
			t.Errorf("session lacks %s: %s", prop, r.raw)
		}
	}
	// POST to the collection's Members URI is POST to the collection.
	m, tok2, loc2 := b.login(t, testCred.Username, testCred.Password)
	if m.status != http.StatusCreated || loc2 == loc {
		t.Fatalf("second login: status %d, Location %q", m.status, loc2)
	}
	mem := b.do(t, "POST", "/redfish/v1/SessionService/Sessions/Members", `{"UserName":"admin","Password":"`+testCred.Password+`"}`, nil, nil)
	if mem.status != http.StatusCreated || mem.header.Get("X-Auth-Token") == "" {
		t.Fatalf("POST to Sessions/Members: status %d: %s", mem.status, mem.raw)
	}
	if r := b.do(t, "DELETE", loc2, "", token(tok), nil); r.status != http.StatusNoContent {
		t.Errorf("delete a session: status %d", r.status)
	}
	if r := b.do(t, "GET", "/redfish/v1/Systems", "", token(tok2), nil); r.status != http.StatusUnauthorized {
		t.Errorf("deleted session's token: status %d", r.status)
	}
	// A ReadOnly account sees and ends only its own sessions.
	b.createAccount(t, "viewer", "Passw0rd-1", "ReadOnly")
	_, vtok, vloc := b.login(t, "viewer", "Passw0rd-1")
	list := b.do(t, "GET", "/redfish/v1/SessionService/Sessions", "", token(vtok), nil)
	if members := list.body["Members"].([]any); len(members) != 1 || members[0].(map[string]any)["@odata.id"] != vloc {
		t.Errorf("viewer sees sessions %s", list.raw)
	}
	if r := b.do(t, "DELETE", loc, "", token(vtok), nil); r.status != http.StatusNotFound {
		t.Errorf("viewer deletes the admin's session: status %d", r.status)
	}
	// Deleting an account ends its sessions.
	if r := b.do(t, "DELETE", "/redfish/v1/AccountService/Accounts/2", "", token(tok), nil); r.status != http.StatusNoContent {
		t.Fatalf("delete viewer: status %d: %s", r.status, r.raw)
	}
	if r := b.do(t, "GET", "/redfish/v1/Systems", "", token(vtok), nil); r.status != http.StatusUnauthorized {
		t.Errorf("a deleted account's session: status %d", r.status)
	}
}
