package control

import (
	"context"
	"os"
	"time"

	"github.com/labctl/labctl/bmc/virtual"
	"github.com/labctl/labctl/bootsvc/bootlog"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/pki"
	"github.com/labctl/labctl/lab/progress"
	"github.com/labctl/labctl/lab/state"
)

// Status is a lab as `labctl status` shows it (and its JSON output).
type Status struct {
	Scenario string `json:"scenario"`
	Netns    string `json:"netns"`
	// Interface is a rack lab's interface (Netns is then empty: the
	// namespace labctl ran in).
	Interface string `json:"interface,omitempty"`
	Provider  string `json:"provider"`
	Accel     string `json:"accel,omitempty"`
	Phase     string `json:"phase"`
	// Kubeconfig is the admin kubeconfig of a Kubernetes lab; use it
	// inside Netns (or with `labctl kubectl`).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// CAFile is the lab CA: every service of the lab (boot service API,
	// virtual BMCs, the scenario's) presents a certificate it issued.
	CAFile    string        `json:"ca_file,omitempty"`
	Missing   []string      `json:"missing,omitempty"`   // why the phase is broken
	Recovered []string      `json:"recovered,omitempty"` // processes that died and were restarted
	Faults    []FaultStatus `json:"faults,omitempty"`    // injected and not yet healed
	Error     string        `json:"-"`                   // why the lab process failed
	API       *APIAccess    `json:"api,omitempty"`
	// HTTPSBoot is the boot service's HTTPS address and certificate, when
	// a machine boots by HTTPS (self-signed: not from the lab CA).
	HTTPSBoot *HTTPSBootAccess `json:"https_boot,omitempty"`
	Machines  []MachineStatus  `json:"machines"`
	BMC       *BMCAccess       `json:"-"` // how to reach the virtual BMCs; nil without
}

// FaultStatus is an active fault as status shows it.
type FaultStatus struct {
	ID    string    `json:"id"`
	Fault string    `json:"fault"`
	Since time.Time `json:"since"`
}

// APIAccess is how a user's bootcmd or terraform reaches the lab's boot
// service API (from inside the lab's namespace).
type APIAccess struct {
	Endpoint string `json:"endpoint"`  // host:port, gRPC over mutual TLS
	CertFile string `json:"cert_file"` // the client's
	KeyFile  string `json:"key_file"`
}

// HTTPSBootAccess is where the boot service answers UEFI HTTPS boot, and
// the certificate it presents there.
type HTTPSBootAccess struct {
	URL      string `json:"url"`
	CertFile string `json:"cert_file"`
}

// MachineStatus is one machine: its identity, power and what it last asked
// the boot service.
type MachineStatus struct {
	Name      string      `json:"name"`
	MAC       string      `json:"mac"`
	UUID      string      `json:"uuid"`
	IP        string      `json:"ip"`
	Server    string      `json:"server,omitempty"` // a rack lab's: the inventory's name of the machine
	Power     string      `json:"power"`
	LastEvent string      `json:"last_event"`
	BMC       *MachineBMC `json:"bmc,omitempty"`
}

// MachineBMC is how to reach a machine's virtual BMCs from inside the lab's
// namespace, with the user's own tools.
type MachineBMC struct {
	IPMI         string `json:"ipmi,omitempty"`    // host:port, IPMI v2.0 lanplus; "": the BMC speaks no IPMI
	Redfish      string `json:"redfish,omitempty"` // the machine's ComputerSystem; "": no Redfish
	Username     string `json:"username"`
	PasswordFile string `json:"password_file"`
}

// BMCAccess is what all of a lab's virtual BMCs share.
type BMCAccess struct {
	Redfish, Username, PasswordFile string
}

// LabStatus reads a lab's status as it really is (see Assess): power from
// its provider, last events from its boot service.
func LabStatus(ctx context.Context, st *state.State) (*Status, error) {
	l := st.Lab
	prov, err := Provider(st)
	if err != nil {
		return nil, err
	}
	_, hasBMC := prov.(lab.PowerDriver) // what virtual BMCs act through
	hasBMC = hasBMC && l.Rack == nil    // a rack's BMCs are its inventory's
	health := Assess(ctx, st, prov)
	records, _ := progress.BootLog(l).Records(ctx) // none while the boot service is not up
	s := &Status{Scenario: l.Name, Netns: l.Netns, Provider: st.Provider, Accel: st.Accel, Phase: string(health.Phase),
		Missing: health.Missing, Recovered: health.Recovered, Error: st.Error, Machines: []MachineStatus{}}
	active, err := ActiveFaults(st)
	if err != nil {
		return nil, err
	}
	for _, a := range active {
		s.Faults = append(s.Faults, FaultStatus{ID: a.ID, Fault: a.Fault.String(), Since: a.Since})
	}
	if l.Rack != nil {
		s.Interface = l.Network.Name
	}
	if exists(l.Kubeconfig()) {
		s.Kubeconfig = l.Kubeconfig()
	}
	if dir := l.PKIDir(); exists(pki.CAFile(dir)) {
		s.CAFile = pki.CAFile(dir)
		if exists(pki.CertFile(dir, pki.APIClient)) {
			s.API = &APIAccess{Endpoint: l.APIAddr(), CertFile: pki.CertFile(dir, pki.APIClient), KeyFile: pki.KeyFile(dir, pki.APIClient)}
		}
		if l.HTTPSBoots() {
			s.HTTPSBoot = &HTTPSBootAccess{URL: l.HTTPSBootBaseURL(), CertFile: pki.CertFile(dir, pki.HTTPSBoot)}
		}
	}
	if hasBMC {
		s.BMC = &BMCAccess{Redfish: l.RedfishURL(), Username: lab.BMCUsername, PasswordFile: l.BMCPasswordFile()}
	}
	for i, m := range l.Machines {
		ms := MachineStatus{Name: m.Name, MAC: m.MAC.String(), UUID: m.UUID, IP: m.IP.String(), Power: "unknown"}
		if l.Rack != nil {
			ms.Server = l.Rack.Server(m.Name)
		}
		if p, ok := health.Power[m.Name]; ok {
			ms.Power = string(p)
		}
		if hasBMC {
			ms.BMC = &MachineBMC{Username: lab.BMCUsername, PasswordFile: l.BMCPasswordFile()}
			// A simulated rack's BMC may speak only one of them.
			if m.Speaks(lab.ProtocolIPMI) {
				ms.BMC.IPMI = l.IPMIAddr(i)
			}
			if m.Speaks(lab.ProtocolRedfish) {
				ms.BMC.Redfish = l.MachineRedfishURL(i) + "/redfish/v1/Systems/" + redfishSystemID(m)
			}
		}
		ms.LastEvent = lastEvent(bootlog.Find(records, m.MAC, m.UUID))
		s.Machines = append(s.Machines, ms)
	}
	return s, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func lastEvent(r *bootlog.Record) string {
	if r == nil || len(r.Events) == 0 {
		return ""
	}
	e := r.Events[len(r.Events)-1]
	if e.Name != "" {
		return e.Kind + " " + e.Name + ": " + e.Detail
	}
	return e.Kind + " " + e.Path
}

// redfishSystemID is the Id of m's system on its virtual BMC: its UUID, or
// the vendor's fixed Id its quirk profile gives.
func redfishSystemID(m lab.Machine) string {
	if q, err := virtual.Profile(m.BMCProfile); err == nil && q.SystemID != "" {
		return q.SystemID
	}
	return m.UUID
}
