package pki

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The list's layout as UEFI defines EFI_SIGNATURE_LIST, one X.509 entry:
// the type GUID in UEFI's byte order, the sizes, the owner, the
// certificate as given.
func TestX509SignatureList(t *testing.T) {
	der := []byte("0\x82 a certificate's DER")
	l := x509SignatureList(der)
	x509GUID := []byte{0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72}
	if !bytes.Equal(l[:16], x509GUID) {
		t.Errorf("type % x, want EFI_CERT_X509_GUID % x", l[:16], x509GUID)
	}
	listSize, headerSize, sigSize := binary.LittleEndian.Uint32(l[16:]), binary.LittleEndian.Uint32(l[20:]), binary.LittleEndian.Uint32(l[24:])
	if int(listSize) != len(l) || headerSize != 0 || int(sigSize) != 16+len(der) {
		t.Errorf("sizes list %d header %d signature %d, want %d 0 %d", listSize, headerSize, sigSize, len(l), 16+len(der))
	}
	if !bytes.Equal(l[28:44], owner) || !bytes.Equal(l[44:], der) {
		t.Errorf("entry % x, want the owner then the certificate", l[28:])
	}
}
