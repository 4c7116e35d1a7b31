package dnsmasq

import (
	"reflect"
	"strings"
	"testing"
)

// Lines as dnsmasq 2.90 writes them (log-facility): only finished
// transfers count, not an aborted one or the TFTP root's announcement.
func TestTFTPTransfers(t *testing.T) {
	log := `Dec  6 17:56:06 dnsmasq-tftp[20523]: TFTP root is /tmp/lab/tftp  
Dec  6 17:56:10 dnsmasq-dhcp[20523]: 1234 vendor class: HTTPClient:Arch:00016:UNDI:003000
Dec  6 17:56:14 dnsmasq-tftp[20523]: error 8 User aborted the transfer received from 10.99.0.59
Dec  6 17:56:14 dnsmasq-tftp[20523]: sent /tmp/lab/tftp/ipxe.efi to 10.99.0.59
Dec  6 17:56:15 dnsmasq-tftp[20523]: sent /tmp/lab/tftp/undionly.kpxe to 10.99.0.11 
`
	got, err := TFTPTransfers(strings.NewReader(log))
	want := []Transfer{{"/tmp/lab/tftp/ipxe.efi", "10.99.0.59"}, {"/tmp/lab/tftp/undionly.kpxe", "10.99.0.11"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("TFTPTransfers = %v, %v; want %v", got, err, want)
	}
	if ts, err := TFTPTransfersIn(t.TempDir() + "/none.log"); ts != nil || err != nil {
		t.Errorf("a missing log: %v, %v; want none", ts, err)
	}
}
