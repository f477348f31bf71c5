package schema

import (
	"cmp"
	"slices"
	"strings"
)

// Entity kinds, the things incidents of different vendors can share.
const (
	EntityHost      = "host"      // a device: id and host name
	EntityUser      = "user"      // an account: id, principal or e-mail
	EntityHash      = "hash"      // a file hash (SHA-1, SHA-256, MD5)
	EntityIP        = "ip"        // an IP address
	EntityTechnique = "technique" // a MITRE ATT&CK technique id
)

// Entity is one thing an incident is about, in one shape whatever the
// vendor: a kind, the vendor's id and the name people know it by.
type Entity struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Entities lists the entities an incident's normalized fields carry:
// its devices (hosts), users and MITRE techniques, deduplicated.
func Entities(inc *Incident) []Entity {
	var out []Entity
	add := func(e Entity) {
		if e.ID == "" && e.Name == "" {
			return
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	for _, d := range inc.Devices {
		add(Entity{Kind: EntityHost, ID: d.ID, Name: d.Name})
	}
	for _, u := range inc.Users {
		add(Entity{Kind: EntityUser, ID: u.ID, Name: u.Name})
	}
	if inc.Mitre != nil {
		for _, t := range inc.Mitre.Techniques {
			add(Entity{Kind: EntityTechnique, ID: t})
		}
	}
	return out
}

// EntityKeys are the comparable forms of an entity that vendor reported.
// Ids are the vendor's own and meet only ids of the same vendor; names meet
// across vendors, folded so that vendors spelling one host or person
// differently still meet: a host name loses its domain and case
// ("FIN-LAPTOP-042.corp.example" is "fin-laptop-042"); a user's principal,
// e-mail or account loses its domain and "DOMAIN\" prefix, and dots,
// underscores and spaces count alike, so "CORP\jane.doe",
// "jane.doe@company.com" and "Jane Doe" are one person. Techniques,
// hashes and addresses compare by value, any case.
func EntityKeys(e Entity, vendor string) []string {
	var keys []string
	add := func(k string) {
		if !strings.HasSuffix(k, ":") && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	switch e.Kind {
	case EntityHost:
		if e.ID != "" {
			add("host:id:" + vendor + ":" + strings.ToLower(e.ID))
		}
		add("host:name:" + foldHost(e.Name))
	case EntityUser:
		if e.ID != "" {
			add("user:id:" + vendor + ":" + strings.ToLower(e.ID))
		}
		add("user:name:" + foldUser(e.Name))
	default:
		add(e.Kind + ":" + strings.ToLower(cmp.Or(e.ID, e.Name)))
	}
	return keys
}

func foldHost(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.Count(s, ".") == 3 && strings.Trim(s, "0123456789.") == "" {
		return s // an IPv4 address, not a host name with a domain
	}
	h, _, _ := strings.Cut(s, ".")
	return h
}

func foldUser(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if _, after, ok := strings.Cut(s, `\`); ok {
		s = after
	}
	s, _, _ = strings.Cut(s, "@")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '_' || r == ' ' }), " ")
}
