// Package fleet names the hosts and people the demo simulators share, so
// that one organisation's machines and users show up at every vendor: the
// same laptop in an ESET detection and a Kaspersky incident, the same user
// in a Kaspersky incident and a DLP one. The simulators put these in place
// of the first entries of their own pools, without drawing from their
// random streams, so their datasets stay what they were otherwise.
package fleet

// Host is a machine every vendor knows by the same name.
type Host struct {
	// Name is the host name, without a domain.
	Name string
	// OS is "windows", "macos" or "linux".
	OS string
}

// User is a person every vendor knows: by login (an e-mail's local part,
// an account name) and by display name.
type User struct {
	Login   string
	First   string
	Last    string
	Display string
}

// Hosts are the shared machines.
var Hosts = []Host{
	{Name: "FIN-LAPTOP-042", OS: "windows"},
	{Name: "ENG-WS-117", OS: "windows"},
	{Name: "MKT-MBP-007", OS: "macos"},
}

// Users are the shared people.
var Users = []User{
	{Login: "jane.doe", First: "Jane", Last: "Doe", Display: "Jane Doe"},
	{Login: "omar.haddad", First: "Omar", Last: "Haddad", Display: "Omar Haddad"},
	{Login: "li.wei", First: "Li", Last: "Wei", Display: "Li Wei"},
}
