package dlpsim

import (
	"hash/fnv"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/internal/fleet"
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
	for i, h := range fleet.Hosts {
		if i < len(endpoints) {
			endpoints[i].name, endpoints[i].os = h.Name, h.OS
		}
	}
	for i, u := range fleet.Users {
		if i < len(users) {
			users[i].login, users[i].email = u.Login, u.Login+"@company.com"
			if i < len(fleet.Hosts) {
				users[i].home = i // each shared user works on a shared host
			}
		}
	}
}
