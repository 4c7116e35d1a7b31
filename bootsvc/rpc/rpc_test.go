package rpc_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/labctl/labctl/bootsvc"
	"github.com/labctl/labctl/bootsvc/rpc"
	"github.com/labctl/labctl/bootsvc/rpc/rpcpb"
	pb "github.com/labctl/labctl/bootsvc/rpc/serverpb"
	"github.com/labctl/labctl/bootsvc/rpc/storagepb"
)

// fixture is a boot service on a fresh data directory with its HTTP side
// and its gRPC API on loopback, and TLS material made for the test.
type fixture struct {
	dir        string
	srv        *bootsvc.Server
	http       *httptest.Server
	addr       string
	ca         *testCA
	clientCert string
	clientKey  string
	certDir    string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), certDir: t.TempDir()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var err error
	if f.srv, err = bootsvc.New(bootsvc.Config{DataDir: f.dir, Logger: log}); err != nil {
		t.Fatal(err)
	}
	f.http = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.http.Close)

	f.ca = newCA(t, f.certDir, "lab-ca")
	certFile, keyFile := f.ca.issue(t, f.certDir, "server", true)
	f.clientCert, f.clientKey = f.ca.issue(t, f.certDir, "client", false)
	api, err := rpc.New(f.srv, rpc.TLSFiles{CAFile: f.ca.file, CertFile: certFile, KeyFile: keyFile}, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("API server: %v", err)
		}
	})
	return f
}

// client is a client generated from the project's protocol files.
type client struct {
	groups   rpcpb.GroupsClient
	profiles rpcpb.ProfilesClient
	ign      rpcpb.IgnitionClient
	generic  rpcpb.GenericClient
	sel      rpcpb.SelectClient
}

func (f *fixture) dial(t testing.TB, conf *tls.Config) client {
	t.Helper()
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return client{rpcpb.NewGroupsClient(conn), rpcpb.NewProfilesClient(conn), rpcpb.NewIgnitionClient(conn),
		rpcpb.NewGenericClient(conn), rpcpb.NewSelectClient(conn)}
}

func (f *fixture) client(t testing.TB) client {
	return f.dial(t, clientTLS(t, f.ca, f.clientCert, f.clientKey))
}

func (f *fixture) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(f.http.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (f *fixture) file(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const (
	mac        = "52:54:00:a1:9c:ae"
	rawIgn     = `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":"data:,node1"}}]}}`
	genericTpl = "hostname={{.hostname}} pool={{.pool}}\n"
)

var (
	testGroup = &storagepb.Group{Id: "node1", Name: "Node 1", Profile: "worker",
		Selector: map[string]string{"mac": "52-54-00-A1-9C-AE"}, Metadata: []byte(`{"pool":"a","hostname":"node1"}`)}
	testProfile = &storagepb.Profile{Id: "worker", Name: "Worker", IgnitionId: "worker.ign", GenericId: "worker.txt",
		Boot: &storagepb.NetBoot{Kernel: "/assets/vmlinuz", Initrd: []string{"/assets/initrd.img"}, Args: []string{"console=ttyS0", "ip=dhcp"}}}
)

// put writes a profile, its templates and a group through the API.
func put(t testing.TB, c client) {
	t.Helper()
	ctx := ctxT(t)
	steps := []func() error{
		func() error {
			_, err := c.ign.IgnitionPut(ctx, &pb.IgnitionPutRequest{Name: "worker.ign", Config: []byte(rawIgn)})
			return err
		},
		func() error {
			_, err := c.generic.GenericPut(ctx, &pb.GenericPutRequest{Name: "worker.txt", Config: []byte(genericTpl)})
			return err
		},
		func() error {
			_, err := c.profiles.ProfilePut(ctx, &pb.ProfilePutRequest{Profile: testProfile})
			return err
		},
		func() error { _, err := c.groups.GroupPut(ctx, &pb.GroupPutRequest{Group: testGroup}); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("put step %d: %v", i, err)
		}
	}
}

func TestEveryMethodOverMutualTLS(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	put(t, c)

	// The files are matchbox's: its layout, names, field order and tabs.
	wantGroup := "{\n\t\"id\": \"node1\",\n\t\"name\": \"Node 1\",\n\t\"profile\": \"worker\",\n\t\"selector\": {\n\t\t\"mac\": \"52-54-00-A1-9C-AE\"\n\t},\n\t\"metadata\": {\n\t\t\"pool\": \"a\",\n\t\t\"hostname\": \"node1\"\n\t}\n}"
	if got := f.file(t, "groups/node1.json"); got != wantGroup {
		t.Errorf("groups/node1.json =\n%s\nwant\n%s", got, wantGroup)
	}
	wantProfile := "{\n\t\"id\": \"worker\",\n\t\"name\": \"Worker\",\n\t\"ignition_id\": \"worker.ign\",\n\t\"boot\": {\n\t\t\"kernel\": \"/assets/vmlinuz\",\n\t\t\"initrd\": [\n\t\t\t\"/assets/initrd.img\"\n\t\t],\n\t\t\"args\": [\n\t\t\t\"console=ttyS0\",\n\t\t\t\"ip=dhcp\"\n\t\t]\n\t},\n\t\"generic_id\": \"worker.txt\"\n}"
	if got := f.file(t, "profiles/worker.json"); got != wantProfile {
		t.Errorf("profiles/worker.json =\n%s\nwant\n%s", got, wantProfile)
	}
	if got := f.file(t, "ignition/worker.ign"); got != rawIgn {
		t.Errorf("ignition/worker.ign = %q", got)
	}
	if got := f.file(t, "generic/worker.txt"); got != genericTpl {
		t.Errorf("generic/worker.txt = %q", got)
	}

	// Get, List and Select answer what was put (the selector's MAC as served: normalised).
	wantG := proto.Clone(testGroup).(*storagepb.Group)
	wantG.Selector = map[string]string{"mac": mac}
	gg, err := c.groups.GroupGet(ctx, &pb.GroupGetRequest{Id: "node1"})
	if err != nil {
		t.Fatal(err)
	}
	assertGroup(t, "GroupGet", gg.Group, wantG)
	gl, err := c.groups.GroupList(ctx, &pb.GroupListRequest{})
	if err != nil || len(gl.Groups) != 1 {
		t.Fatalf("GroupList = %v, %v; want one group", gl, err)
	}
	assertGroup(t, "GroupList", gl.Groups[0], wantG)
	sg, err := c.sel.SelectGroup(ctx, &pb.SelectGroupRequest{Labels: map[string]string{"mac": "52:54:00:A1:9C:AE", "uuid": ""}})
	if err != nil {
		t.Fatal(err)
	}
	assertGroup(t, "SelectGroup", sg.Group, wantG)

	pg, err := c.profiles.ProfileGet(ctx, &pb.ProfileGetRequest{Id: "worker"})
	if err != nil || !proto.Equal(pg.Profile, testProfile) {
		t.Errorf("ProfileGet = %v, %v; want %v", pg, err, testProfile)
	}
	pl, err := c.profiles.ProfileList(ctx, &pb.ProfileListRequest{})
	if err != nil || len(pl.Profiles) != 1 || !proto.Equal(pl.Profiles[0], testProfile) {
		t.Errorf("ProfileList = %v, %v", pl, err)
	}
	sp, err := c.sel.SelectProfile(ctx, &pb.SelectProfileRequest{Labels: map[string]string{"mac": mac}})
	if err != nil || !proto.Equal(sp.Profile, testProfile) {
		t.Errorf("SelectProfile = %v, %v", sp, err)
	}
	ig, err := c.ign.IgnitionGet(ctx, &pb.IgnitionGetRequest{Name: "worker.ign"})
	if err != nil || string(ig.Config) != rawIgn {
		t.Errorf("IgnitionGet = %v, %v", ig, err)
	}
	ge, err := c.generic.GenericGet(ctx, &pb.GenericGetRequest{Name: "worker.txt"})
	if err != nil || string(ge.Config) != genericTpl {
		t.Errorf("GenericGet = %v, %v", ge, err)
	}

	// The HTTP side serves what was put, on the next request.
	q := "?mac=52-54-00-a1-9c-ae"
	for _, tt := range []struct{ path, want string }{
		{"/ipxe" + q, "#!ipxe\nkernel /assets/vmlinuz console=ttyS0 ip=dhcp\ninitrd /assets/initrd.img\nboot\n"},
		{"/ignition" + q, rawIgn},
		{"/generic" + q, "hostname=node1 pool=a\n"},
		{"/pixiecore/v1/boot/52:54:00:a1:9c:ae", `{"kernel":"` + f.http.URL + `/assets/vmlinuz","initrd":["` + f.http.URL + `/assets/initrd.img"],"cmdline":"console=ttyS0 ip=dhcp"}` + "\n"},
	} {
		if code, body := f.get(t, tt.path); code != http.StatusOK || body != tt.want {
			t.Errorf("GET %s = %d %q, want 200 %q", tt.path, code, body, tt.want)
		}
	}

	// Deletes remove the files; the objects are gone from both sides.
	deletes := []struct {
		name string
		call func() error
		file string
	}{
		{"GroupDelete", func() error { _, err := c.groups.GroupDelete(ctx, &pb.GroupDeleteRequest{Id: "node1"}); return err }, "groups/node1.json"},
		{"ProfileDelete", func() error {
			_, err := c.profiles.ProfileDelete(ctx, &pb.ProfileDeleteRequest{Id: "worker"})
			return err
		}, "profiles/worker.json"},
		{"IgnitionDelete", func() error {
			_, err := c.ign.IgnitionDelete(ctx, &pb.IgnitionDeleteRequest{Name: "worker.ign"})
			return err
		}, "ignition/worker.ign"},
		{"GenericDelete", func() error {
			_, err := c.generic.GenericDelete(ctx, &pb.GenericDeleteRequest{Name: "worker.txt"})
			return err
		}, "generic/worker.txt"},
	}
	for _, d := range deletes {
		if err := d.call(); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		if _, err := os.Stat(filepath.Join(f.dir, d.file)); !os.IsNotExist(err) {
			t.Errorf("%s left %s: %v", d.name, d.file, err)
		}
		// A second delete finds nothing.
		if err := d.call(); status.Code(err) != codes.NotFound {
			t.Errorf("%s again: %v, want NotFound", d.name, err)
		}
	}
	if code, body := f.get(t, "/ipxe"+q); code != http.StatusNotFound || !strings.Contains(body, "no group matches") {
		t.Errorf("GET /ipxe after delete = %d %q, want 404 no group matches", code, body)
	}
	if _, err := c.groups.GroupGet(ctx, &pb.GroupGetRequest{Id: "node1"}); status.Code(err) != codes.NotFound {
		t.Errorf("GroupGet after delete: %v, want NotFound", err)
	}
	if _, err := c.sel.SelectGroup(ctx, &pb.SelectGroupRequest{Labels: map[string]string{"mac": mac}}); status.Code(err) != codes.NotFound {
		t.Errorf("SelectGroup after delete: %v, want NotFound", err)
	}
}

func assertGroup(t *testing.T, what string, got, want *storagepb.Group) {
	t.Helper()
	// Metadata is JSON: compare it as values, not bytes.
	var gm, wm any
	json.Unmarshal(got.GetMetadata(), &gm)
	json.Unmarshal(want.GetMetadata(), &wm)
	g, w := proto.Clone(got).(*storagepb.Group), proto.Clone(want).(*storagepb.Group)
	g.Metadata, w.Metadata = nil, nil
	gj, _ := json.Marshal(gm)
	wj, _ := json.Marshal(wm)
	if !proto.Equal(g, w) || string(gj) != string(wj) {
		t.Errorf("%s = %v (metadata %s), want %v (metadata %s)", what, got, gj, want, wj)
	}
}

// Invalid objects are refused with InvalidArgument and the loader's reason,
// and nothing is written; missing objects are NotFound.
func TestRefusals(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	put(t, c)
	before := snapshot(t, f.dir)

	tests := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"group without profile", func() error {
			_, err := c.groups.GroupPut(ctx, &pb.GroupPutRequest{Group: &storagepb.Group{Id: "x"}})
			return err
		}, codes.InvalidArgument, "groups/x.json: field profile is empty"},
		{"group with a bad MAC selector", func() error {
			_, err := c.groups.GroupPut(ctx, &pb.GroupPutRequest{Group: &storagepb.Group{Id: "x", Profile: "worker", Selector: map[string]string{"mac": "52:54"}}})
			return err
		}, codes.InvalidArgument, `groups/x.json: selector mac: invalid MAC "52:54"`},
		{"group metadata not an object", func() error {
			_, err := c.groups.GroupPut(ctx, &pb.GroupPutRequest{Group: &storagepb.Group{Id: "x", Profile: "worker", Metadata: []byte(`[1]`)}})
			return err
		}, codes.InvalidArgument, "group x: metadata is not a JSON object"},
		{"group id outside groups/", func() error {
			_, err := c.groups.GroupPut(ctx, &pb.GroupPutRequest{Group: &storagepb.Group{Id: "../profiles/x", Profile: "worker"}})
			return err
		}, codes.InvalidArgument, `group id "../profiles/x": want a plain file name`},
		{"group with no body", func() error { _, err := c.groups.GroupPut(ctx, &pb.GroupPutRequest{}); return err },
			codes.InvalidArgument, "request has no group"},
		{"profile without id", func() error {
			_, err := c.profiles.ProfilePut(ctx, &pb.ProfilePutRequest{Profile: &storagepb.Profile{Name: "x"}})
			return err
		}, codes.InvalidArgument, "profile id is empty"},
		{"ignition that is not JSON", func() error {
			_, err := c.ign.IgnitionPut(ctx, &pb.IgnitionPutRequest{Name: "bad.ign", Config: []byte(`{"ignition":`)})
			return err
		}, codes.InvalidArgument, "ignition/bad.ign:"},
		{"ignition of an unknown version", func() error {
			_, err := c.ign.IgnitionPut(ctx, &pb.IgnitionPutRequest{Name: "old.ign", Config: []byte(`{"ignition":{"version":"2.2.0"}}`)})
			return err
		}, codes.InvalidArgument, "ignition/old.ign: unsupported Ignition config version 2.2.0"},
		{"Butane template that does not parse", func() error {
			_, err := c.ign.IgnitionPut(ctx, &pb.IgnitionPutRequest{Name: "bad.yaml", Config: []byte("variant: fcos\n{{ .x ")})
			return err
		}, codes.InvalidArgument, `template: ignition/bad.yaml:2: unclosed action`},
		{"generic template that does not parse", func() error {
			_, err := c.generic.GenericPut(ctx, &pb.GenericPutRequest{Name: "bad.txt", Config: []byte("{{ end }}")})
			return err
		}, codes.InvalidArgument, "template: generic/bad.txt:1: unexpected {{end}}"},
		{"template name leaving its directory", func() error {
			_, err := c.generic.GenericPut(ctx, &pb.GenericPutRequest{Name: "../groups/y.json", Config: []byte("{}")})
			return err
		}, codes.InvalidArgument, `generic template name "../groups/y.json": empty, . or .. path element`},
		{"hidden template name", func() error {
			_, err := c.generic.GenericPut(ctx, &pb.GenericPutRequest{Name: ".x", Config: []byte("x")})
			return err
		}, codes.InvalidArgument, "which the loader skips"},
		{"get a missing group", func() error { _, err := c.groups.GroupGet(ctx, &pb.GroupGetRequest{Id: "nope"}); return err },
			codes.NotFound, `group "nope": not found`},
		{"get a missing profile", func() error { _, err := c.profiles.ProfileGet(ctx, &pb.ProfileGetRequest{Id: "nope"}); return err },
			codes.NotFound, `profile "nope": not found`},
		{"get a missing template", func() error {
			_, err := c.ign.IgnitionGet(ctx, &pb.IgnitionGetRequest{Name: "nope.ign"})
			return err
		}, codes.NotFound, "ignition/nope.ign: not found"},
		{"delete a missing group", func() error { _, err := c.groups.GroupDelete(ctx, &pb.GroupDeleteRequest{Id: "nope"}); return err },
			codes.NotFound, `group "nope": not found`},
		{"delete a missing profile", func() error {
			_, err := c.profiles.ProfileDelete(ctx, &pb.ProfileDeleteRequest{Id: "nope"})
			return err
		}, codes.NotFound, `profile "nope": not found`},
		{"delete a missing template", func() error {
			_, err := c.generic.GenericDelete(ctx, &pb.GenericDeleteRequest{Name: "nope"})
			return err
		}, codes.NotFound, "generic/nope: not found"},
		{"select with no match", func() error {
			_, err := c.sel.SelectProfile(ctx, &pb.SelectProfileRequest{Labels: map[string]string{"mac": "52:54:00:00:00:01"}})
			return err
		}, codes.NotFound, "no group matches labels {mac=52:54:00:00:00:01}"},
		{"select with a bad MAC", func() error {
			_, err := c.sel.SelectGroup(ctx, &pb.SelectGroupRequest{Labels: map[string]string{"mac": "zz"}})
			return err
		}, codes.InvalidArgument, `labels: label mac: invalid MAC "zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			st := status.Convert(err)
			if st.Code() != tt.code || !strings.Contains(st.Message(), tt.msg) {
				t.Errorf("got %v %q, want %v containing %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
		})
	}
	if after := snapshot(t, f.dir); after != before {
		t.Errorf("refused calls changed the data directory:\nbefore %s\nafter  %s", before, after)
	}
	if code, _ := f.get(t, "/ipxe?mac="+mac); code != http.StatusOK {
		t.Errorf("GET /ipxe after refusals = %d, want 200", code)
	}
}

// A hand-made bad file elsewhere, once a reload (the watcher's, SIGHUP's)
// found it, is named as the data directory's fault (FailedPrecondition),
// not blamed on the write.
func TestWriteOverBadDirectory(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	put(t, c)
	if err := os.WriteFile(filepath.Join(f.dir, "groups", "hand.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Reload(); err == nil {
		t.Fatal("reload of a bad file succeeded")
	}
	_, err := c.groups.GroupPut(ctxT(t), &pb.GroupPutRequest{Group: &storagepb.Group{Id: "y", Profile: "worker"}})
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "groups/hand.json") {
		t.Fatalf("got %v %q, want FailedPrecondition naming groups/hand.json", st.Code(), st.Message())
	}
	if _, err := os.Stat(filepath.Join(f.dir, "groups", "y.json")); !os.IsNotExist(err) {
		t.Errorf("groups/y.json was written: %v", err)
	}
}

// Only clients holding a certificate from the API's CA get in.
func TestTLSRefusals(t *testing.T) {
	f := newFixture(t)
	other := newCA(t, f.certDir, "other-ca")
	otherCert, otherKey := other.issue(t, f.certDir, "intruder", false)
	tls11 := clientTLS(t, f.ca, f.clientCert, f.clientKey)
	tls11.MinVersion, tls11.MaxVersion = tls.VersionTLS11, tls.VersionTLS11

	noCert, wrongCA := clientTLS(t, f.ca, "", ""), clientTLS(t, f.ca, otherCert, otherKey)
	// Go's client keeps back a certificate the server's CA list does not
	// name; send it anyway, as other clients do, so the server must judge it.
	intruder := wrongCA.Certificates[0]
	wrongCA.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &intruder, nil }
	wrongCA.Certificates = nil
	tls12 := func(c *tls.Config) *tls.Config {
		c = c.Clone()
		c.MaxVersion = tls.VersionTLS12 // the refusal comes in the handshake, not after it
		return c
	}
	tests := []struct {
		name string
		conf *tls.Config // nil: plaintext
		want string
	}{
		{"no client certificate", tls12(noCert), "remote error: tls: handshake failure"},
		{"certificate from another CA", tls12(wrongCA), "remote error: tls: unknown certificate authority"},
		{"TLS 1.1", tls11, "protocol version"},
		{"plaintext", nil, "connection"},
	}
	for _, tt := range tests {
		t.Run("gRPC "+tt.name, func(t *testing.T) {
			creds := insecure.NewCredentials()
			if tt.conf != nil {
				creds = credentials.NewTLS(tt.conf)
			}
			conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// gRPC retries a failed handshake until the deadline, as bootcmd
			// does; the deadline bounds the refusal.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = rpcpb.NewGroupsClient(conn).GroupPut(ctx, &pb.GroupPutRequest{Group: &storagepb.Group{Id: "evil", Profile: "p"}})
			st := status.Convert(err)
			if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), tt.want) {
				t.Errorf("got %v %q, want Unavailable containing %q", st.Code(), st.Message(), tt.want)
			}
		})
	}
	// Under TLS 1.3 the client finishes its handshake before the server
	// judges its certificate; the server's alert is what it reads next.
	for _, tt := range []struct {
		name string
		conf *tls.Config
		want string
	}{
		{"no client certificate", noCert, "remote error: tls: certificate required"},
		{"certificate from another CA", wrongCA, "remote error: tls: unknown certificate authority"},
	} {
		t.Run("TLS 1.3 "+tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", f.addr, tt.conf)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("read: %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(f.dir, "groups", "evil.json")); !os.IsNotExist(err) {
		t.Errorf("a refused client wrote groups/evil.json: %v", err)
	}
}

// snapshot lists every file under dir with its content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		b.WriteString(rel + "=" + string(data) + ";")
		return nil
	})
	return b.String()
}
