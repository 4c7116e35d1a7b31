package inventory_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/labctl/labctl/bmc/inventory"
)

// What Encode writes, Load reads back to the same machines.
func TestEncodeRoundTrip(t *testing.T) {
	in, err := inventory.Parse("/etc/labctl/inventory.yaml", []byte(good+second))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := inventory.Encode(&b, in.Machines); err != nil {
		t.Fatal(err)
	}
	out, err := inventory.Parse("/elsewhere/rack.yaml", b.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(in.Machines, out.Machines) {
		t.Errorf("read back\n%+v\nwant\n%+v\nfrom\n%s", out.Machines, in.Machines, b.String())
	}
}

// A machine Load would refuse is not written, and the refusal names it.
func TestEncodeRefusesWhatLoadRefuses(t *testing.T) {
	in, err := inventory.Parse("/etc/labctl/inventory.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	m := in.Machines[0]
	m.MAC = nil
	var b bytes.Buffer
	err = inventory.Encode(&b, []inventory.Machine{m})
	if err == nil || !strings.Contains(err.Error(), "machines[0] (node1).mac") {
		t.Fatalf("Encode of a machine without a MAC: %v, want a refusal naming machines[0] (node1).mac", err)
	}
	if b.Len() != 0 {
		t.Errorf("wrote %q", b.String())
	}
}
