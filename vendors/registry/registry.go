// Package registry lists the vendors the server knows: one descriptor per
// vendor package, and nothing else. The configuration loader, the command,
// the demo, incident-sim, bench-load and the evals loop over it, so a
// fourth vendor is its own package plus one line here.
package registry

import (
	"slices"

	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky"
)

// vendors are the descriptors, in the order instances from the environment
// and the demo's are listed. A build-tagged file may add one (see
// example.go).
var vendors = []*descriptor.Vendor{
	&eset.Descriptor,
	&kaspersky.Descriptor,
	&dlp.Descriptor,
}

// All returns every vendor's descriptor, in registry order.
func All() []*descriptor.Vendor { return slices.Clone(vendors) }

// Lookup returns the descriptor of a vendor key.
func Lookup(key string) (*descriptor.Vendor, bool) {
	i := slices.IndexFunc(vendors, func(v *descriptor.Vendor) bool { return v.Key() == key })
	if i < 0 {
		return nil, false
	}
	return vendors[i], true
}

// Keys are the vendor keys, in registry order.
func Keys() []string {
	out := make([]string, len(vendors))
	for i, v := range vendors {
		out[i] = v.Key()
	}
	return out
}

// Settings are the settings rows of every vendor: the table a
// configuration file or the environment is read against.
func Settings() []settings.Vendor {
	out := make([]settings.Vendor, len(vendors))
	for i, v := range vendors {
		out[i] = v.Settings
	}
	return out
}
