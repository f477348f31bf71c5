package schema

import (
	"slices"
	"testing"
)

func TestEntityKeysMeet(t *testing.T) {
	meet := func(a Entity, av string, b Entity, bv string) bool {
		ka := EntityKeys(a, av)
		return slices.ContainsFunc(EntityKeys(b, bv), func(k string) bool { return slices.Contains(ka, k) })
	}
	for _, tc := range []struct {
		name   string
		a      Entity
		av     string
		b      Entity
		bv     string
		should bool
	}{
		{"host name with a domain", Entity{Kind: EntityHost, Name: "FIN-LAPTOP-042.corp.example.com"}, "kaspersky", Entity{Kind: EntityHost, ID: "endpoint-701", Name: "fin-laptop-042"}, "dlp", true},
		{"user principal and e-mail", Entity{Kind: EntityUser, Name: "CORP\\jane.doe"}, "eset", Entity{Kind: EntityUser, Name: "jane.doe@company.com"}, "dlp", true},
		{"display name and e-mail", Entity{Kind: EntityUser, ID: "u-1", Name: "Jane Doe"}, "kaspersky", Entity{Kind: EntityUser, ID: "user-101", Name: "jane.doe@company.com"}, "dlp", true},
		{"the same id at two vendors is not one host", Entity{Kind: EntityHost, ID: "dev-1"}, "eset", Entity{Kind: EntityHost, ID: "dev-1"}, "dlp", false},
		{"the same id at one vendor is", Entity{Kind: EntityHost, ID: "DEV-1"}, "eset", Entity{Kind: EntityHost, ID: "dev-1", Name: "x"}, "eset", true},
		{"different people", Entity{Kind: EntityUser, Name: "jane.doe@a"}, "dlp", Entity{Kind: EntityUser, Name: "john.doe@a"}, "dlp", false},
		{"a host is not a user", Entity{Kind: EntityHost, Name: "li.wei"}, "dlp", Entity{Kind: EntityUser, Name: "li.wei"}, "dlp", false},
		{"technique any case", Entity{Kind: EntityTechnique, ID: "t1059.001"}, "kaspersky", Entity{Kind: EntityTechnique, ID: "T1059.001"}, "mem", true},
		{"IPv4 keeps its dots", Entity{Kind: EntityHost, Name: "10.1.2.3"}, "a", Entity{Kind: EntityHost, Name: "10.9.9.9"}, "b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := meet(tc.a, tc.av, tc.b, tc.bv); got != tc.should {
				t.Errorf("meet = %v, want %v (%v / %v)", got, tc.should, EntityKeys(tc.a, tc.av), EntityKeys(tc.b, tc.bv))
			}
		})
	}
}
