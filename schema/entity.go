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
		if !slices.ContainsFunc(out, func(o Entity) bool { return SameEntity(o, e) && o.ID == e.ID && o.Name == e.Name }) {
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

// EntityKeys are the comparable forms of an entity: its id and its name,
// each folded so that vendors that spell one host or user differently
// still meet. A host name loses its domain ("FIN-LAPTOP-004.corp.example"
// is "fin-laptop-004"); a user loses the domain of a principal or an
// e-mail and a "DOMAIN\" prefix ("CORP\j.doe", "j.doe@corp.example" and
// "J.Doe" are one user). Ids are compared as they are, lower-cased.
func EntityKeys(e Entity) []string {
	var keys []string
	add := func(k string) {
		if k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	switch e.Kind {
	case EntityHost:
		add("host:" + strings.ToLower(e.ID))
		add("host:" + foldHost(e.Name))
		add("host:" + foldHost(e.ID))
	case EntityUser:
		add("user:" + foldUser(e.ID))
		add("user:" + foldUser(e.Name))
	default:
		add(e.Kind + ":" + strings.ToLower(cmp.Or(e.ID, e.Name)))
	}
	return slices.DeleteFunc(keys, func(k string) bool { return strings.HasSuffix(k, ":") })
}

// SameEntity reports whether two entities are the same thing by one of
// their keys.
func SameEntity(a, b Entity) bool {
	if a.Kind != b.Kind {
		return false
	}
	ka := EntityKeys(a)
	return slices.ContainsFunc(EntityKeys(b), func(k string) bool { return slices.Contains(ka, k) })
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
	local, _, _ := strings.Cut(s, "@")
	return local
}
