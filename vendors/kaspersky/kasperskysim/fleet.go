package kasperskysim

import (
	"strings"

	"github.com/incident-mcp/incident-mcp/vendors/internal/fleet"
)

// shareFleet renames the first hosts and accounts of the root tenant's
// inventory after the shared fleet, which the other simulators know too.
// It draws nothing from the random stream, so every record keeps its place
// and only these names change.
func shareFleet(p *tenantPool) {
	for i, h := range fleet.Hosts {
		if i < len(p.hosts) {
			p.hosts[i].DisplayName = h.Name
			p.hosts[i].Fqdn = []string{strings.ToLower(h.Name) + "." + p.domain}
		}
	}
	for i, u := range fleet.Users {
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
