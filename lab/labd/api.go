package labd

import (
	"github.com/labctl/labctl/bootsvc/rpc"
	"github.com/labctl/labctl/bootsvc/serve"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
)

// apiOptions says where the API serves (on the gateway, inside the lab's
// namespace) with the certificates `labctl up` had the lab CA issue.
func apiOptions(l *lab.Lab) *serve.API {
	return &serve.API{Address: l.APIAddr(), TLS: apiTLS(l)}
}

// apiTLS names the API server's files: its certificate and key, and the lab
// CA its clients' certificates must come from.
func apiTLS(l *lab.Lab) rpc.TLSFiles {
	dir := l.PKIDir()
	return rpc.TLSFiles{CAFile: pki.CAFile(dir), CertFile: pki.CertFile(dir, pki.APIServer), KeyFile: pki.KeyFile(dir, pki.APIServer)}
}
