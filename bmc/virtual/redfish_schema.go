package virtual

import (
	"net/http"
	"slices"
	"strings"
)

// rfSchemas are the DMTF schemas this service's resources follow, with the
// version each uses ("" for a collection, whose schema is not versioned).
// They are the resources' @odata.type, their Link headers and $metadata.
var rfSchemas = map[string]string{
	"ServiceRoot":              "v1_5_0",
	"ComputerSystemCollection": "",
	"ComputerSystem":           "v1_10_0",
	"ManagerCollection":        "",
	"Manager":                  "v1_5_0",
	"SessionService":           "v1_1_0",
	"SessionCollection":        "",
	"Session":                  "v1_0_0",
	"AccountService":           "v1_5_0",
	"ManagerAccountCollection": "",
	"ManagerAccount":           "v1_4_0",
	"RoleCollection":           "",
	"Role":                     "v1_2_1",
}

// odataType is the @odata.type of a resource following schema.
func odataType(schema string) string {
	ver, ok := rfSchemas[schema]
	if !ok {
		panic("redfish: no version for schema " + schema) // a programming error
	}
	if ver == "" {
		return "#" + schema + "." + schema
	}
	return "#" + schema + "." + ver + "." + schema
}

// schemaURI is where DMTF publishes the JSON schema of an @odata.type,
// for the Link header: #Session.v1_0_0.Session → …/Session.v1_0_0.json.
func schemaURI(odataType string) string {
	t := strings.TrimPrefix(odataType, "#")
	if i := strings.LastIndex(t, "."); i >= 0 {
		t = t[:i]
	}
	return "https://redfish.dmtf.org/schemas/v1/" + t + ".json"
}

// metadataDoc is the OData metadata document (CSDL): a reference to each
// schema used and the service's entity container.
var metadataDoc = func() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">` + "\n")
	var names []string
	for n := range rfSchemas {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b.WriteString(`  <edmx:Reference Uri="http://redfish.dmtf.org/schemas/v1/` + n + `_v1.xml">` + "\n")
		b.WriteString(`    <edmx:Include Namespace="` + n + `"/>` + "\n")
		if v := rfSchemas[n]; v != "" {
			b.WriteString(`    <edmx:Include Namespace="` + n + `.` + v + `"/>` + "\n")
		}
		b.WriteString("  </edmx:Reference>\n")
	}
	b.WriteString(`  <edmx:DataServices>` + "\n")
	b.WriteString(`    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="Service">` + "\n")
	b.WriteString(`      <EntityContainer Name="Service" Extends="ServiceRoot.` + rfSchemas["ServiceRoot"] + `.ServiceContainer"/>` + "\n")
	b.WriteString("    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>\n")
	return b.String()
}()

// metadata serves the metadata document, which needs no authentication.
func metadata(w http.ResponseWriter, _ *http.Request, _ *caller) {
	w.Header().Set("Content-Type", "application/xml;charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(metadataDoc))
}
