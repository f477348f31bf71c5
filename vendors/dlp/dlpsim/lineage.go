package dlpsim

import (
	"hash/fnv"
	"time"
)

// lineage is the data's path the incident's event ends: where the file
// came from, then the event itself. Cyberhaven's product is built on this
// lineage, but its public incident API documents no lineage field
// (unverified): the simulator puts a small one under details.lineage, in
// encoding/json's shapes, as a pure function of the incident, so the
// dataset's random stream is not touched.
func lineage(inc *Incident, created time.Time) []any {
	h := fnv.New64a()
	h.Write([]byte(inc.ID))
	before := time.Duration(h.Sum64()%(72*3600)) * time.Second
	d := inc.Details
	return []any{
		map[string]any{
			"event":       "file_saved",
			"time":        created.Add(-before).Format(time.RFC3339),
			"location":    d["file_path"],
			"application": d["application"],
			"endpoint":    inc.EndpointName,
			"user":        inc.UserName,
		},
		map[string]any{
			"event":       d["action"],
			"time":        created.Format(time.RFC3339),
			"location":    d["destination"],
			"application": d["application"],
			"endpoint":    inc.EndpointName,
			"user":        inc.UserName,
		},
	}
}

// shareFleet gives the first endpoints and users of the pools the shared
// fleet's names, which the other simulators know too. It draws nothing
// from the random stream, so every incident keeps its place.
func shareFleet(endpoints []endpointDef, users []userDef) {
	for i, h := range fleetHosts {
		if i < len(endpoints) {
			endpoints[i].name, endpoints[i].os = h.Name, h.OS
		}
	}
	for i, u := range fleetUsers {
		if i < len(users) {
			users[i].login, users[i].email = u.Login, u.Login+"@company.com"
			if i < len(fleetHosts) {
				users[i].home = i // each shared user works on a shared host
			}
		}
	}
}

// The shared fleet: hosts and people the demo simulators of ESET,
// Kaspersky and DLP all know by the same names, so that one
// organisation's machines and users show up at every vendor (the same
// laptop in an ESET detection and a Kaspersky incident, the same user in a
// Kaspersky incident and a DLP one). Each simulator holds the same table;
// the evals relate incidents across vendors through these names. They
// replace the first entries of the simulator's own pools without drawing
// from its random stream, so the rest of the dataset stays as it was.
var (
	fleetHosts = []struct{ Name, OS string }{
		{"FIN-LAPTOP-042", "windows"}, {"ENG-WS-117", "windows"}, {"MKT-MBP-007", "macos"},
	}
	fleetUsers = []struct{ Login, Display string }{
		{"jane.doe", "Jane Doe"}, {"omar.haddad", "Omar Haddad"}, {"li.wei", "Li Wei"},
	}
)
