package virtual_test

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
)

// rfReply is one Redfish response as a test sees it.
type rfReply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// messageIDs are the MessageIds of a reply's extended information.
func (r rfReply) messageIDs() []string {
	info, _ := r.body["@Message.ExtendedInfo"].([]any)
	if e, ok := r.body["error"].(map[string]any); ok {
		info, _ = e["@Message.ExtendedInfo"].([]any)
	}
	var ids []string
	for _, m := range info {
		if m, ok := m.(map[string]any); ok {
			id, _ := m["MessageId"].(string)
			ids = append(ids, id)
		}
	}
	return ids
}

func (r rfReply) hasMessage(id string) bool {
	for _, m := range r.messageIDs() {
		if strings.HasSuffix(m, "."+id) {
			return true
		}
	}
	return false
}

// rfAuth sets how a request authenticates.
type rfAuth func(*http.Request)

func basic(user, pass string) rfAuth {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func token(tok string) rfAuth {
	return func(r *http.Request) { r.Header.Set("X-Auth-Token", tok) }
}

var admin = basic(testCred.Username, testCred.Password)

// do sends one request; auth and header may be nil.
func (b redfishBMC) do(t *testing.T, method, path, body string, auth rfAuth, header map[string]string) rfReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if auth != nil {
		auth(req)
	}
	resp, err := b.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := rfReply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return r
}

func TestRedfishStandardURIs(t *testing.T) {
	b := startRedfish(t)
	t.Run("metadata", func(t *testing.T) {
		r := b.do(t, "GET", "/redfish/v1/$metadata", "", nil, map[string]string{"Accept": "application/xml"})
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/xml;charset=utf-8" {
			t.Fatalf("status %d, Content-Type %q", r.status, r.header.Get("Content-Type"))
		}
		var doc struct {
			References []struct {
				URI      string `xml:"Uri,attr"`
				Includes []struct {
					Namespace string `xml:",attr"`
				} `xml:"Include"`
			} `xml:"Reference"`
			Container struct {
				Name    string `xml:",attr"`
				Extends string `xml:",attr"`
			} `xml:"DataServices>Schema>EntityContainer"`
		}
		if err := xml.Unmarshal([]byte(r.raw), &doc); err != nil {
			t.Fatalf("not XML: %v\n%s", err, r.raw)
		}
		if doc.Container.Name != "Service" || doc.Container.Extends != "ServiceRoot.v1_5_0.ServiceContainer" {
			t.Errorf("entity container %+v", doc.Container)
		}
		// Every resource's type must be declared by a referenced namespace.
		declared := map[string]bool{}
		for _, ref := range doc.References {
			for _, inc := range ref.Includes {
				declared[inc.Namespace] = true
			}
		}
		for _, path := range []string{"/redfish/v1/", "/redfish/v1/Systems/" + testUUID, "/redfish/v1/AccountService/Accounts/1", "/redfish/v1/Managers/BMC"} {
			typ, _ := b.do(t, "GET", path, "", admin, nil).body["@odata.type"].(string)
			parts := strings.Split(strings.TrimPrefix(typ, "#"), ".")
			if ns := strings.Join(parts[:len(parts)-1], "."); !declared[ns] {
				t.Errorf("%s: type %s: namespace %s not in $metadata", path, typ, ns)
			}
		}
	})
	t.Run("odata service document", func(t *testing.T) {
		r := b.do(t, "GET", "/redfish/v1/odata", "", nil, nil)
		if r.status != http.StatusOK || r.body["@odata.context"] != "/redfish/v1/$metadata" {
			t.Fatalf("status %d, body %s", r.status, r.raw)
		}
		urls := map[string]bool{}
		for _, v := range r.body["value"].([]any) {
			urls[v.(map[string]any)["url"].(string)] = true
		}
		for _, want := range []string{"/redfish/v1/", "/redfish/v1/Systems", "/redfish/v1/SessionService", "/redfish/v1/AccountService", "/redfish/v1/Managers"} {
			if !urls[want] {
				t.Errorf("service document lacks %s: %s", want, r.raw)
			}
		}
	})
	t.Run("versions", func(t *testing.T) {
		r := b.do(t, "GET", "/redfish", "", nil, nil)
		if r.status != http.StatusOK || r.body["v1"] != "/redfish/v1/" || len(r.body) != 1 {
			t.Errorf("status %d, body %s", r.status, r.raw)
		}
	})
}

// Unsupported methods get 405 with Allow; a protected resource asks for
// authentication first.
func TestRedfishMethodNotAllowed(t *testing.T) {
	b := startRedfish(t)
	cases := []struct {
		method, path string
		auth         rfAuth
		want         int
		allow        string
	}{
		{"DELETE", "/redfish/v1/", nil, 405, "GET, HEAD"},
		{"PATCH", "/redfish/v1/", nil, 405, "GET, HEAD"},
		{"POST", "/redfish/v1", nil, 405, "GET, HEAD"},
		{"FAKEMETHODFORTEST", "/redfish/v1/", nil, 405, "GET, HEAD"},
		{"PUT", "/redfish/v1/$metadata", nil, 405, "GET, HEAD"},
		{"DELETE", "/redfish/v1/Systems", nil, 401, ""},
		{"DELETE", "/redfish/v1/Systems", admin, 405, "GET, HEAD"},
		{"POST", "/redfish/v1/Systems/" + testUUID, admin, 405, "GET, HEAD, PATCH"},
		{"GET", "/redfish/v1/Systems/" + testUUID + "/Actions/ComputerSystem.Reset", admin, 405, "POST"},
		{"PUT", "/redfish/v1/SessionService/Sessions", admin, 405, "GET, HEAD, POST"},
		{"PATCH", "/redfish/v1/AccountService/Roles/ReadOnly", admin, 405, "GET, HEAD"},
		{"PATCH", "/redfish/v1/AccountService/Accounts/1", admin, 405, "GET, HEAD"},
		{"DELETE", "/redfish/v1/AccountService/Accounts/1", admin, 405, "GET, HEAD"},
		{"GET", "/redfish/v1/NoSuchThing", nil, 401, ""},
		{"GET", "/redfish/v1/NoSuchThing", admin, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := b.do(t, tc.method, tc.path, "", tc.auth, nil)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if _, ok := r.body["error"]; !ok {
				t.Errorf("no Redfish error body: %s", r.raw)
			}
			if tc.want == 405 && !r.hasMessage("OperationNotAllowed") {
				t.Errorf("messages %v, want OperationNotAllowed", r.messageIDs())
			}
		})
	}
}

// Every resource answers GET and HEAD with Allow, Cache-Control, ETag
// (also as @odata.etag) and a Link to the schema of its @odata.type.
func TestRedfishResponseHeaders(t *testing.T) {
	b := startRedfish(t)
	cases := []struct {
		path, allow, schema string
	}{
		{"/redfish/v1/", "GET, HEAD", "ServiceRoot.v1_5_0.json"},
		{"/redfish/v1/Systems", "GET, HEAD", "ComputerSystemCollection.json"},
		{"/redfish/v1/Systems/" + testUUID, "GET, HEAD, PATCH", "ComputerSystem.v1_10_0.json"},
		{"/redfish/v1/SessionService/Sessions", "GET, HEAD, POST", "SessionCollection.json"},
		{"/redfish/v1/AccountService", "GET, HEAD", "AccountService.v1_5_0.json"},
		{"/redfish/v1/AccountService/Accounts", "GET, HEAD, POST", "ManagerAccountCollection.json"},
		{"/redfish/v1/AccountService/Roles/Operator", "GET, HEAD", "Role.v1_2_1.json"},
		{"/redfish/v1/Managers/BMC", "GET, HEAD", "Manager.v1_5_0.json"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			get := b.do(t, "GET", tc.path, "", admin, nil)
			head := b.do(t, "HEAD", tc.path, "", admin, nil)
			for _, r := range []rfReply{get, head} {
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				h := r.header
				if h.Get("Allow") != tc.allow || h.Get("Cache-Control") != "no-store" || h.Get("OData-Version") != "4.0" {
					t.Errorf("Allow %q, Cache-Control %q, OData-Version %q", h.Get("Allow"), h.Get("Cache-Control"), h.Get("OData-Version"))
				}
				if want := "<https://redfish.dmtf.org/schemas/v1/" + tc.schema + ">; rel=describedby"; h.Get("Link") != want {
					t.Errorf("Link %q, want %q", h.Get("Link"), want)
				}
			}
			if head.raw != "" {
				t.Errorf("HEAD has a body: %s", head.raw)
			}
			if etag := get.header.Get("ETag"); etag == "" || etag != get.body["@odata.etag"] || etag != head.header.Get("ETag") {
				t.Errorf("ETag %q, @odata.etag %v, HEAD ETag %q", etag, get.body["@odata.etag"], head.header.Get("ETag"))
			}
		})
	}
}

func TestRedfishRequestChecks(t *testing.T) {
	b := startRedfish(t)
	cases := []struct {
		name    string
		path    string
		header  map[string]string
		want    int
		message string
	}{
		{"OData-Version 4.0", "/redfish/v1/", map[string]string{"OData-Version": "4.0"}, 200, ""},
		{"OData-Version 4.1 refused", "/redfish/v1/", map[string]string{"OData-Version": "4.1"}, 412, "HeaderInvalid"},
		{"OData-Version on a protected resource", "/redfish/v1/Systems", map[string]string{"OData-Version": "5.0"}, 412, "HeaderInvalid"},
		{"unknown query ignored", "/redfish/v1/?rpvunknown", nil, 200, ""},
		{"$ query not implemented", "/redfish/v1/?$rpvunknown", nil, 501, "QueryNotSupported"},
		{"$expand not implemented", "/redfish/v1/Systems?$expand=.", nil, 501, "QueryNotSupported"},
		{"trailing slash", "/redfish/v1/Systems/", nil, 200, ""},
		{"any Accept", "/redfish/v1/", map[string]string{"Accept": "*/*;charset=utf-8"}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(t, "GET", tc.path, "", admin, tc.header)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			if tc.message != "" && !r.hasMessage(tc.message) {
				t.Errorf("messages %v, want %s", r.messageIDs(), tc.message)
			}
		})
	}
}

// ?only returns a collection's one member, or the collection when it has
// more; only takes no value.
func TestRedfishOnlyQuery(t *testing.T) {
	b := startRedfish(t)
	cases := []struct {
		path, want string
		status     int
	}{
		{"/redfish/v1/Managers?only", "/redfish/v1/Managers/BMC", 200},
		{"/redfish/v1/Systems?only", "/redfish/v1/Systems/" + testUUID, 200},
		{"/redfish/v1/AccountService/Roles?only", "/redfish/v1/AccountService/Roles", 200},
		{"/redfish/v1/SessionService/Sessions?only=foo", "", 400},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			r := b.do(t, "GET", tc.path, "", admin, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.status == 400 && !r.hasMessage("QueryParameterValueFormatError") {
				t.Errorf("messages %v", r.messageIDs())
			}
			if tc.want != "" && r.body["@odata.id"] != tc.want {
				t.Errorf("got %v, want %s", r.body["@odata.id"], tc.want)
			}
		})
	}
	if r := b.do(t, "GET", "/redfish/v1/Systems?only", "", nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("?only without credentials: status %d", r.status)
	}
}
