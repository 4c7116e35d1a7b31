package bootlog

import (
	"net"
	"testing"
)

func TestFind(t *testing.T) {
	ms := []Record{
		{ID: "52:54:00:00:00:01", MAC: "52:54:00:00:00:01", UUID: "aaaaaaaa-0000-0000-0000-000000000001"},
		{ID: "bbbbbbbb-0000-0000-0000-000000000002", UUID: "bbbbbbbb-0000-0000-0000-000000000002"}, // seen by UUID only
		{ID: "52:54:00:00:00:03", MAC: "52:54:00:00:00:03"},                                        // seen by MAC only
	}
	mac := func(s string) net.HardwareAddr {
		m, err := net.ParseMAC(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name   string
		mac    net.HardwareAddr
		uuid   string
		wantID string // "" for no record
	}{
		{"by MAC", mac("52:54:00:00:00:01"), "", "52:54:00:00:00:01"},
		{"by MAC in another spelling", mac("52-54-00-00-00-03"), "", "52:54:00:00:00:03"},
		{"by UUID", nil, "bbbbbbbb-0000-0000-0000-000000000002", "bbbbbbbb-0000-0000-0000-000000000002"},
		{"by UUID in upper case", mac("52:54:00:00:00:99"), "BBBBBBBB-0000-0000-0000-000000000002", "bbbbbbbb-0000-0000-0000-000000000002"},
		{"the first record that matches either", mac("52:54:00:00:00:03"), "aaaaaaaa-0000-0000-0000-000000000001", "52:54:00:00:00:01"},
		{"unknown", mac("52:54:00:00:00:99"), "cccccccc-0000-0000-0000-000000000003", ""},
		{"empty MAC and UUID match no record, not even one without them", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Find(ms, tt.mac, tt.uuid)
			switch {
			case got == nil && tt.wantID != "":
				t.Errorf("Find(%v, %q) = nil, want %s", tt.mac, tt.uuid, tt.wantID)
			case got != nil && got.ID != tt.wantID:
				t.Errorf("Find(%v, %q) = %s, want %q", tt.mac, tt.uuid, got.ID, tt.wantID)
			}
		})
	}
}

// sight is a report from the machine with this MAC at second t.
