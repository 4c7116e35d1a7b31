package pki

import "encoding/binary"

// x509Type is EFI_CERT_X509_GUID, a5c059a1-94e4-4aa7-87b5-ab155c2bf072,
// and owner labctl's own GUID, both in UEFI's byte order (the first three
// fields little-endian).
var (
	x509Type = guid(0xa5c059a1, 0x94e4, 0x4aa7, [8]byte{0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72})
	owner    = guid(0x6c616263, 0x746c, 0x4c41, [8]byte{0x42, 0x43, 0x54, 0x4c, 0x00, 0x00, 0x00, 0x01})
)

func guid(a uint32, b, c uint16, d [8]byte) []byte {
	g := binary.LittleEndian.AppendUint32(nil, a)
	g = binary.LittleEndian.AppendUint16(g, b)
	g = binary.LittleEndian.AppendUint16(g, c)
	return append(g, d[:]...)
}

// x509SignatureList is der, one X.509 certificate, as the one entry of an
// EFI_SIGNATURE_LIST: type, list size, header size (0), signature size,
// then the owner's GUID and the certificate.
func x509SignatureList(der []byte) []byte {
	sigSize := 16 + len(der)
	l := append([]byte(nil), x509Type...)
	l = binary.LittleEndian.AppendUint32(l, uint32(16+12+sigSize))
	l = binary.LittleEndian.AppendUint32(l, 0)
	l = binary.LittleEndian.AppendUint32(l, uint32(sigSize))
	l = append(l, owner...)
	return append(l, der...)
}
