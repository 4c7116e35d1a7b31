package scenario

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/sshkeys"
)

// WriteData writes the scenario's matchbox-layout data directory to dst, a
// directory the boot service then serves. Every group's metadata gains a
// "lab" object (name, domain, gateway, boot_url, ssh_authorized_key and
// machines by name with ip, mac, uuid and host_key_pub), and a group whose
// selector pins one lab machine (by mac or uuid) also gains "machine" (name,
// ip, mac, uuid, host_key, host_key_pub, and tls: the certificates issued
// to that machine alone, by name, each with cert and key). With tls, "lab"
// also has ca_cert. The result is still a data
// directory matchbox itself could serve.
func (s *Scenario) WriteData(dst string, l *lab.Lab, bootURL string, keys *sshkeys.Keys, tls *TLS) error {
	machines := map[string]any{}
	byMAC, byUUID := map[string]lab.Machine{}, map[string]lab.Machine{}
	for _, m := range l.Machines {
		machines[m.Name] = map[string]any{
			"ip": m.IP.String(), "mac": m.MAC.String(), "uuid": m.UUID,
			"host_key_pub": keys.Hosts[m.Name].Public,
		}
		byMAC[m.MAC.String()], byUUID[m.UUID] = m, m
	}
	// On a rack the inventory's MACs and UUIDs replace the scenario's: a
	// selector that pins a scenario machine pins its server instead.
	for _, spec := range s.Machines {
		m, _, err := l.Machine(spec.Name)
		if err != nil {
			continue
		}
		if mac, err := net.ParseMAC(spec.MAC); err == nil {
			if _, ok := byMAC[mac.String()]; !ok {
				byMAC[mac.String()] = m
			}
		}
		if _, ok := byUUID[spec.UUID]; !ok && spec.UUID != "" {
			byUUID[spec.UUID] = m
		}
	}
	labMeta := map[string]any{
		"name": l.Name, "domain": l.Network.Domain, "gateway": l.Network.Gateway.String(),
		"boot_url": bootURL, "ssh_authorized_key": keys.AuthorizedKey, "machines": machines,
	}
	if tls != nil {
		labMeta["ca_cert"] = string(tls.CA)
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return fs.WalkDir(s.FS, s.Data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, s.Data), "/")
		out := filepath.Join(dst, filepath.FromSlash(rel))
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		raw, err := fs.ReadFile(s.FS, p)
		if err != nil {
			return err
		}
		if path.Dir(rel) == "groups" && path.Ext(rel) == ".json" {
			src := path.Join(s.dataDir(), rel)
			if raw, err = addGroupMetadata(raw, src, labMeta, byMAC, byUUID, keys, tls); err != nil {
				return err
			}
		}
		return os.WriteFile(out, raw, 0o644)
	})
}

func addGroupMetadata(raw []byte, src string, labMeta map[string]any, byMAC, byUUID map[string]lab.Machine, keys *sshkeys.Keys, tls *TLS) ([]byte, error) {
	var g map[string]any
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	meta, _ := g["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	for _, k := range []string{"lab", "machine"} {
		if _, ok := meta[k]; ok {
			return nil, fmt.Errorf("%s: metadata.%s: reserved for what labctl adds", src, k)
		}
	}
	meta["lab"] = labMeta
	sel, _ := g["selector"].(map[string]any)
	var pinned *lab.Machine
	for k, v := range sel {
		val, _ := v.(string)
		switch k {
		case "mac":
			if mac, err := net.ParseMAC(val); err == nil {
				if m, ok := byMAC[mac.String()]; ok {
					pinned = &m
					if m.MAC.String() != mac.String() {
						sel[k] = m.MAC.String() // the scenario's machine is a server on a rack
					}
				}
			}
		case "uuid":
			if m, ok := byUUID[val]; ok {
				pinned = &m
				if m.UUID != val {
					sel[k] = m.UUID
				}
			}
		}
	}
	if pinned != nil {
		hk := keys.Hosts[pinned.Name]
		meta["machine"] = map[string]any{
			"name": pinned.Name, "ip": pinned.IP.String(), "mac": pinned.MAC.String(), "uuid": pinned.UUID,
			"host_key": hk.Private, "host_key_pub": hk.Public,
		}
		if tls != nil {
			certs := map[string]any{}
			for name, p := range tls.Machines[pinned.Name] {
				certs[name] = map[string]any{"cert": string(p.Cert), "key": string(p.Key)}
			}
			meta["machine"].(map[string]any)["tls"] = certs
		}
	}
	g["metadata"] = meta
	return json.MarshalIndent(g, "", "\t")
}
