package bootsvc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labctl/labctl/bootsvc/bootlog"
)

func sight(mac string, t int, labels map[string]string, detail string) sighting {
	return sighting{mac: mac, labels: labels, event: bootlog.Event{Time: time.Unix(int64(t), 0), Kind: bootlog.KindReport, Path: "/report", Status: 204, Name: "booted", Detail: detail}}
}

func macN(i int) string { return fmt.Sprintf("52:54:00:00:%02x:%02x", i>>8, i&0xff) }

func TestRegistryBounds(t *testing.T) {
	manyLabels := map[string]string{}
	for i := range maxLabelsKept + 10 {
		manyLabels[fmt.Sprintf("k%02d", i)] = "v"
	}
	tests := []struct {
		name  string
		max   int
		feed  func(rg *registry)
		check func(t *testing.T, ms []bootlog.Record)
	}{
		{
			name: "machines: the one seen longest ago is forgotten first",
			max:  3,
			feed: func(rg *registry) {
				for i := range 3 {
					rg.record(sight(macN(i), i, nil, ""))
				}
				rg.record(sight(macN(0), 10, nil, "")) // seen again: now macN(1) is the oldest
				rg.record(sight(macN(3), 11, nil, ""))
				rg.record(sight(macN(4), 12, nil, ""))
			},
			check: func(t *testing.T, ms []bootlog.Record) {
				var ids []string
				for _, m := range ms {
					ids = append(ids, m.ID)
				}
				if want := []string{macN(0), macN(3), macN(4)}; !slices.Equal(ids, want) {
					t.Errorf("machines %v, want %v", ids, want)
				}
			},
		},
		{
			name: "machines: a forgotten machine's UUID and IP no longer lead to it",
			max:  1,
			feed: func(rg *registry) {
				rg.record(sighting{mac: macN(0), uuid: "0d5a8c0e-0000-4000-8000-000000000001", ip: "10.0.0.1", event: bootlog.Event{Kind: bootlog.KindIPXE}})
				rg.record(sight(macN(1), 1, nil, ""))
				rg.record(sighting{ip: "10.0.0.1", event: bootlog.Event{Kind: bootlog.KindReport}}) // not attributable any more
				rg.record(sighting{uuid: "0d5a8c0e-0000-4000-8000-000000000001", event: bootlog.Event{Kind: bootlog.KindIPXE}})
			},
			check: func(t *testing.T, ms []bootlog.Record) {
				if len(ms) != 1 || ms[0].ID != "0d5a8c0e-0000-4000-8000-000000000001" || ms[0].MAC != "" || len(ms[0].Events) != 1 {
					t.Errorf("machines %+v, want only a new record by UUID with one event", ms)
				}
			},
		},
		{
			name: "events: the latest MaxEvents kept, oldest first",
			feed: func(rg *registry) {
				for i := range MaxEvents + 5 {
					rg.record(sight(macN(0), i, nil, strconv.Itoa(i)))
				}
			},
			check: func(t *testing.T, ms []bootlog.Record) {
				ev := ms[0].Events
				if len(ev) != MaxEvents || ev[0].Detail != "5" || ev[len(ev)-1].Detail != strconv.Itoa(MaxEvents+4) {
					t.Fatalf("%d events from %q to %q, want %d from 5 to %d", len(ev), ev[0].Detail, ev[len(ev)-1].Detail, MaxEvents, MaxEvents+4)
				}
				for i := 1; i < len(ev); i++ {
					if ev[i].Seq != ev[i-1].Seq+1 {
						t.Fatalf("seq %d after %d", ev[i].Seq, ev[i-1].Seq)
					}
				}
			},
		},
		{
			name: "detail, name and path clipped on a character boundary",
			feed: func(rg *registry) {
				s := sight(macN(0), 0, nil, strings.Repeat("é", MaxDetail))
				s.event.Name = strings.Repeat("n", 1000)
				s.event.Path = "/assets/" + strings.Repeat("p", 5000)
				rg.record(s)
			},
			check: func(t *testing.T, ms []bootlog.Record) {
				e := ms[0].Events[0]
				for _, f := range []struct {
					field, v string
					max      int
				}{{"detail", e.Detail, MaxDetail}, {"name", e.Name, maxName}, {"path", e.Path, maxPath}} {
					if len(f.v) > f.max || !utf8.ValidString(f.v) || !strings.HasSuffix(f.v, "…") {
						t.Errorf("%s: %d bytes (valid UTF-8 %v), want at most %d ending in …", f.field, len(f.v), utf8.ValidString(f.v), f.max)
					}
				}
			},
		},
		{
			name: "labels: at most maxLabelsKept, oversized ones not kept, known ones updated",
			feed: func(rg *registry) {
				rg.record(sight(macN(0), 0, map[string]string{"hostname": "node1", "long": strings.Repeat("v", maxLabelValue+1), strings.Repeat("k", maxLabelKey+1): "v"}, ""))
				rg.record(sight(macN(0), 1, manyLabels, ""))
				rg.record(sight(macN(0), 2, map[string]string{"hostname": "node2", "new": "x"}, ""))
			},
			check: func(t *testing.T, ms []bootlog.Record) {
				l := ms[0].Labels
				if len(l) != maxLabelsKept || l["hostname"] != "node2" || ms[0].Hostname != "node2" {
					t.Errorf("%d labels, hostname %q/%q; want %d and node2", len(l), l["hostname"], ms[0].Hostname, maxLabelsKept)
				}
				for _, k := range []string{"long", strings.Repeat("k", maxLabelKey+1), "new"} {
					if _, ok := l[k]; ok {
						t.Errorf("label %.10s… kept", k)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg := newRegistry(tt.max)
			tt.feed(rg)
			ms, _ := rg.list(nil)
			if len(ms) == 0 {
				t.Fatal("no machines")
			}
			tt.check(t, ms)
		})
	}
}

// TestMachineLogSeq: the log's sequence counts every event, survives
// forgetting, and is served with the log.
func TestMachineLogSeq(t *testing.T) {
	s := newTestServer(t, labData, Config{MaxMachines: 2})
	h := s.Handler()
	for i := range 5 {
		get(t, h, "/report?event=booted&mac="+macN(i))
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req := httptest.NewRequest(method, "/machines", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get(bootlog.SeqHeader); got != "5" {
			t.Errorf("%s /machines: %s %q, want 5", method, bootlog.SeqHeader, got)
		}
		if method == http.MethodHead && rec.Body.Len() != 0 {
			t.Errorf("HEAD /machines has a body of %d bytes", rec.Body.Len())
		}
	}
	ms := s.Machines()
	if len(ms) != 2 || ms[0].Events[0].Seq != 4 || ms[1].Events[0].Seq != 5 {
		t.Errorf("machines %+v, want the last two with seq 4 and 5", ms)
	}
	filters := []struct {
		query   string
		code    int
		wantIDs []string
	}{
		{"?mac=52-54-00-00-00-04", 200, []string{macN(4)}},
		{"?uuid=0d5a8c0e-0000-4000-8000-000000000001", 200, []string{}},
		{"?mac=" + macN(0), 200, []string{}}, // forgotten
		{"?mac=nonsense", 400, nil},
	}
	for _, f := range filters {
		code, body := get(t, h, "/machines"+f.query)
		if code != f.code {
			t.Errorf("/machines%s: %d %s, want %d", f.query, code, body, f.code)
			continue
		}
		if f.code != 200 {
			continue
		}
		var got []bootlog.Record
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("/machines%s: %v in %s", f.query, err, body)
		}
		ids := []string{}
		for _, m := range got {
			ids = append(ids, m.ID)
		}
		if !slices.Equal(ids, f.wantIDs) {
			t.Errorf("/machines%s: %v, want %v", f.query, ids, f.wantIDs)
		}
	}
}

// A machine log saved as GET /machines returns it (a lab snapshot's) is
// what a new registry starts from: same machines, events, order and Seq.
func TestMachineLogLoad(t *testing.T) {
	rg := newRegistry(0)
	now := time.Now().UTC().Truncate(time.Second)
	rg.record(sighting{ip: "10.0.0.11", mac: "52:54:00:00:00:11", uuid: "u1", event: bootlog.Event{Time: now, Kind: bootlog.KindIPXE}})
	rg.record(sighting{ip: "10.0.0.11", event: bootlog.Event{Time: now, Kind: bootlog.KindReport, Name: "ready", Detail: "host=node1"}})
	rg.record(sighting{mac: "52:54:00:00:00:12", event: bootlog.Event{Time: now, Kind: bootlog.KindIPXE}})
	want, seq := rg.list(nil)
	raw, _ := json.Marshal(want)
	file := filepath.Join(t.TempDir(), "machine-log.json")
	os.WriteFile(file, raw, 0o644)
	loaded := newRegistry(0)
	if err := loaded.load(file); err != nil {
		t.Fatal(err)
	}
	got, gotSeq := loaded.list(nil)
	if !reflect.DeepEqual(got, want) || gotSeq != seq {
		t.Fatalf("loaded %+v (seq %d), want %+v (seq %d)", got, gotSeq, want, seq)
	}
	if !loaded.knowsIP("10.0.0.11") {
		t.Error("a loaded machine is not known by its address")
	}
	if err := newRegistry(0).load(filepath.Join(t.TempDir(), "none.json")); err != nil {
		t.Errorf("a missing machine log: %v", err)
	}
}
