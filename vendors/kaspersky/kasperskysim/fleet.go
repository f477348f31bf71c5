package kasperskysim

import (
	"strings"
)

// shareFleet renames the first hosts and accounts of the root tenant's
// inventory after the shared fleet, which the other simulators know too.
// It draws nothing from the random stream, so every record keeps its place
// and only these names change.
func shareFleet(p *tenantPool) {
	for i, h := range fleetHosts {
		if i < len(p.hosts) {
			p.hosts[i].DisplayName = h.Name
			p.hosts[i].Fqdn = []string{strings.ToLower(h.Name) + "." + p.domain}
		}
	}
	for i, u := range fleetUsers {
		if i >= len(p.users) {
			break
		}
		a := p.users[i]
		a.SamAccountName, a.MailNickname = u.Login, u.Login
		a.CN, a.DisplayName = u.Display, u.Display
		a.Mail, a.UserPrincipalName = u.Login+"@"+p.domain, u.Login+"@"+p.domain
		a.DistinguishedName = "CN=" + u.Display + ",OU=Users," + dc(p.domain)
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
