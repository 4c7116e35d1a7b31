package virtual

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labctl/labctl/internal/power"
)

// Redfish values this BMC offers; they are also its @Redfish.AllowableValues.
var (
	redfishTargets    = []string{"None", "Pxe", "Hdd"}
	redfishEnabled    = []string{"Disabled", "Once", "Continuous"}
	redfishModes      = []string{"Legacy", "UEFI"}
	redfishResetTypes = map[string]power.Action{
		"On":               power.ActionOn,
		"ForceOff":         power.ActionOff,
		"GracefulShutdown": power.ActionSoftOff,
		// Both restarts are cold, so that a new boot device takes effect.
		"ForceRestart": power.ActionCycle,
		"PowerCycle":   power.ActionCycle,
	}
	redfishResetOrder = []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle"}
)

const managerURI = "/redfish/v1/Managers/BMC"

func (r *redfish) systemRoutes() {
	r.handle("/redfish/v1/Systems", methods{"GET": need(privLogin, r.systemList)})
	r.handle("/redfish/v1/Systems/{id}", methods{
		"GET":   need(privLogin, r.systemGet),
		"PATCH": need(privConfigureComponents, r.systemPatch),
	})
	r.handle("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset", methods{"POST": need(privConfigureComponents, r.systemReset)})
}

func (r *redfish) systemMembers() []map[string]string {
	members := []map[string]string{}
	for _, id := range r.order {
		members = append(members, odata("/redfish/v1/Systems/"+id))
	}
	return members
}

func (r *redfish) systemList(w http.ResponseWriter, req *http.Request, _ *caller) {
	r.writeCollection(w, req, "/redfish/v1/Systems", "ComputerSystemCollection", "Computer System Collection", r.systemMembers())
}

func (r *redfish) system(w http.ResponseWriter, req *http.Request) (*System, string, bool) {
	s, ok := r.systems[strings.ToLower(req.PathValue("id"))]
	if !ok {
		rfError(w, http.StatusNotFound, "ResourceNotFound", "no system "+req.PathValue("id"), "ComputerSystem", req.PathValue("id"))
		return nil, "", false
	}
	return s, s.id(), ok
}

// allowedEnabled are the BootSourceOverrideEnabled values s takes.
func allowedEnabled(q Quirks) []string {
	if q.Once == "unsupported" {
		return []string{"Disabled", "Continuous"}
	}
	return redfishEnabled
}

// allowedModes are the BootSourceOverrideMode values s takes now.
func allowedModes(q Quirks, cur string) []string {
	if q.BootMode == "fixed" {
		return []string{cur}
	}
	return redfishModes
}

// allowedTargets are the boot targets of s: UefiHttp on UEFI machines only.
func allowedTargets(s *System) []string {
	if s.UEFI {
		return append(slices.Clone(redfishTargets), "UefiHttp")
	}
	return redfishTargets
}

// systemJSON renders a system as it is now.
func systemJSON(ctx context.Context, s *System, id string) (map[string]any, error) {
	st, err := s.PowerState(ctx)
	if err != nil {
		return nil, err
	}
	o := s.Override()
	target, enabled, mode := "None", "Disabled", "Legacy"
	switch o.Device {
	case power.BootNetwork:
		target = "Pxe"
	case power.BootDisk:
		target = "Hdd"
	case power.BootHTTP:
		target = "UefiHttp"
	}
	if o.Device != "" {
		enabled = "Continuous"
		if o.Once {
			enabled = "Once"
		}
	}
	if o.UEFI {
		mode = "UEFI"
	}
	powerState := "Off"
	if st == power.On {
		powerState = "On"
	}
	self := "/redfish/v1/Systems/" + id
	boot := map[string]any{
		"BootSourceOverrideTarget":                          target,
		"BootSourceOverrideTarget@Redfish.AllowableValues":  allowedTargets(s),
		"BootSourceOverrideEnabled":                         enabled,
		"BootSourceOverrideEnabled@Redfish.AllowableValues": allowedEnabled(s.Quirks),
		"BootSourceOverrideMode":                            mode,
		"BootSourceOverrideMode@Redfish.AllowableValues":    allowedModes(s.Quirks, mode),
	}
	if s.UEFI {
		// UEFI HTTP boot, as real BMCs offer it: the URI of the next
		// UefiHttp boot, "" for the one DHCP offers.
		boot["HttpBootUri"] = o.URI
	}
	// sushy-tools lists no allowed values for what it does not honour.
	if s.Quirks.Once == "ignored" {
		delete(boot, "BootSourceOverrideEnabled@Redfish.AllowableValues")
	}
	if s.Quirks.BootMode == "fails" {
		delete(boot, "BootSourceOverrideMode@Redfish.AllowableValues")
	}
	return map[string]any{
		"@odata.type": odataType("ComputerSystem"),
		"@odata.id":   self,
		"Id":          id, "Name": s.Name, "UUID": strings.ToLower(s.UUID), "SystemType": "Virtual",
		"PowerState": powerState,
		"Boot":       boot,
		"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{
			"target":                            self + "/Actions/ComputerSystem.Reset",
			"ResetType@Redfish.AllowableValues": redfishResetOrder,
		}},
		"Links": map[string]any{"ManagedBy": []map[string]string{odata(managerURI)}},
	}, nil
}

// currentSystem finds the system at req's {id} and renders it as it is
// now; otherwise it answers.
func (r *redfish) currentSystem(w http.ResponseWriter, req *http.Request) (*System, map[string]any, bool) {
	s, id, ok := r.system(w, req)
	if !ok {
		return nil, nil, false
	}
	v, err := systemJSON(req.Context(), s, id)
	if err != nil {
		rfError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return nil, nil, false
	}
	return s, v, true
}

func (r *redfish) systemGet(w http.ResponseWriter, req *http.Request, _ *caller) {
	if _, v, ok := r.currentSystem(w, req); ok {
		writeJSON(w, http.StatusOK, v)
	}
}

// systemPatch sets the boot source override, all of the request or none of it.
func (r *redfish) systemPatch(w http.ResponseWriter, req *http.Request, c *caller) {
	s, cur, ok := r.currentSystem(w, req)
	if !ok {
		return
	}
	if !ifMatch(w, req, etagOf(cur)) {
		return
	}
	body, ok := patchBody(w, req)
	if !ok {
		return
	}
	for k := range body {
		switch _, known := cur[k]; {
		case k == "Boot":
		case known:
			rfError(w, http.StatusBadRequest, "PropertyNotWritable", "property "+k+" is read-only", k)
			return
		default:
			rfError(w, http.StatusBadRequest, "PropertyUnknown", "property "+k+" is not a property of ComputerSystem", k)
			return
		}
	}
	var boot map[string]string
	if err := json.Unmarshal(body["Boot"], &boot); err != nil {
		rfError(w, http.StatusBadRequest, "PropertyValueTypeError", "Boot: "+err.Error(), string(body["Boot"]), "Boot")
		return
	}
	target, enabled, mode := "", "", ""
	uri, uriSet := boot["HttpBootUri"]
	for k, v := range boot {
		var allowed []string
		switch k {
		case "BootSourceOverrideTarget":
			target, allowed = v, allowedTargets(s)
		case "HttpBootUri":
			if _, ok := cur["Boot"].(map[string]any)["HttpBootUri"]; !ok {
				rfError(w, http.StatusBadRequest, "PropertyUnknown", "property Boot/HttpBootUri: "+s.Name+" boots by BIOS, without UEFI HTTP boot", "Boot/HttpBootUri")
				return
			}
			if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
				rfError(w, http.StatusBadRequest, "PropertyValueFormatError", fmt.Sprintf("Boot/HttpBootUri: %q is not an http(s) URI", v), v, "Boot/HttpBootUri")
				return
			}
			if v != "" && s.HTTPBootURI != "" && v != s.HTTPBootURI {
				rfError(w, http.StatusBadRequest, "PropertyValueNotInList",
					fmt.Sprintf("Boot/HttpBootUri: %q: %s's firmware takes its URI from DHCP, which offers %s only", v, s.Name, s.HTTPBootURI), v, "Boot/HttpBootUri")
				return
			}
			continue
		case "BootSourceOverrideEnabled":
			enabled, allowed = v, allowedEnabled(s.Quirks)
		case "BootSourceOverrideMode":
			mode, allowed = v, allowedModes(s.Quirks, cur["Boot"].(map[string]any)["BootSourceOverrideMode"].(string))
		default:
			rfError(w, http.StatusBadRequest, "PropertyNotWritable", "property Boot/"+k+" is not writable", "Boot/"+k)
			return
		}
		if !slices.Contains(allowed, v) {
			rfError(w, http.StatusBadRequest, "PropertyValueNotInList",
				fmt.Sprintf("Boot/%s: %q is not one of %s", k, v, strings.Join(allowed, ", ")), v, "Boot/"+k)
			return
		}
	}
	prev := s.Override()
	o := prev
	switch target {
	case "Pxe":
		o.Device = power.BootNetwork
	case "Hdd":
		o.Device = power.BootDisk
	case "UefiHttp":
		o.Device = power.BootHTTP
	case "None":
		o.Device = ""
	}
	if enabled == "Once" && s.Quirks.Once == "ignored" {
		enabled = "Continuous"
	}
	switch enabled {
	case "Disabled":
		o.Device = ""
	case "Once":
		o.Once = true
	case "Continuous":
		o.Once = false
	case "":
		if prev.Device == "" {
			o.Once = true // a new target with no Enabled: the next boot only
		}
	}
	if uriSet {
		o.URI = uri
	}
	if o.Device != power.BootHTTP {
		o.URI = "" // a URI belongs to an HTTP boot only
	}
	switch mode {
	case "UEFI":
		o.UEFI = true
	case "Legacy":
		o.UEFI = false
	}
	if mode != "" && s.Quirks.BootMode == "fails" {
		o.UEFI = prev.UEFI // the device is set; the mode is where it fails
	}
	if o != prev {
		if err := s.SetOverride(req.Context(), o); err != nil {
			rfError(w, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
	}
	if mode != "" && s.Quirks.BootMode == "fails" {
		rfError(w, http.StatusInternalServerError, "InternalError",
			"Boot/BootSourceOverrideMode: cannot change the firmware: no loader path specified and firmware auto selection disabled")
		return
	}
	r.systemGet(w, req, c)
}

func (r *redfish) systemReset(w http.ResponseWriter, req *http.Request, _ *caller) {
	s, _, ok := r.system(w, req)
	if !ok {
		return
	}
	var body struct{ ResetType string }
	if !decodeBody(w, req, 4096, &body) {
		return
	}
	a, ok := redfishResetTypes[body.ResetType]
	r.mu.Lock()
	busy := ok && r.resetsLeft > 0
	if busy {
		r.resetsLeft--
	}
	r.mu.Unlock()
	if busy {
		r.busy(w)
		return
	}
	if !ok {
		rfError(w, http.StatusBadRequest, "ActionParameterValueNotInList",
			fmt.Sprintf("ResetType %q is not one of %s", body.ResetType, strings.Join(redfishResetOrder, ", ")),
			body.ResetType, "ResetType", "ComputerSystem.Reset")
		return
	}
	if err := s.SetPower(req.Context(), a); err != nil {
		rfError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// The manager is the BMC itself, one for all of the lab's systems.
func (r *redfish) managerRoutes() {
	r.handle("/redfish/v1/Managers", methods{"GET": need(privLogin, func(w http.ResponseWriter, req *http.Request, _ *caller) {
		r.writeCollection(w, req, "/redfish/v1/Managers", "ManagerCollection", "Manager Collection",
			[]map[string]string{odata(managerURI)})
	})})
	r.handle(managerURI, methods{"GET": need(privLogin, func(w http.ResponseWriter, _ *http.Request, _ *caller) {
		writeJSON(w, http.StatusOK, map[string]any{
			"@odata.type":     odataType("Manager"),
			"@odata.id":       managerURI,
			"Id":              "BMC",
			"Name":            "Manager",
			"ManagerType":     "BMC",
			"Model":           bmcModel,
			"FirmwareVersion": bmcFirmwareVersion,
			"PowerState":      "On",
			"Status":          map[string]string{"State": "Enabled", "Health": "OK"},
			"Links":           map[string]any{"ManagerForServers": r.systemMembers()},
		})
	})})
}
