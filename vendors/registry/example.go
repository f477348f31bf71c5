//go:build examplevendor

package registry

import "github.com/incident-mcp/incident-mcp/vendors/examplevendor"

func init() { vendors = append(vendors, &examplevendor.Descriptor) }
