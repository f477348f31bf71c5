package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/incident-mcp/incident-mcp/access"
	"github.com/incident-mcp/incident-mcp/settings"
)

// accessSection decodes the `access:` rules, checking every selector,
// instance and right at its own line, and builds the policy.
func (p *parser) accessSection(nodes []*yaml.Node, instances []Instance) (*access.Policy, error) {
	names := make([]string, len(instances))
	for i, in := range instances {
		names[i] = in.Name
	}
	rules := make([]access.Rule, 0, len(nodes))
	for i, n := range nodes {
		d := p.all.Decoder(n, fmt.Sprintf("access[%d]", i))
		r := access.Rule{Line: n.Line}
		check := func(key string, dst *[]string, valid func(string) error) {
			v := d.Take(key)
			if d.Err() != nil {
				return
			}
			if v == nil {
				d.Missing(key, "missing; every rule needs who, instances and rights")
				return
			}
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			if len(items) == 0 {
				d.FailNode(v, key, "empty list")
				return
			}
			for _, it := range items {
				if !d.Scalar(key, it, "a list of strings") {
					return
				}
				if err := valid(it.Value); err != nil {
					d.FailNode(it, key, err.Error())
					return
				}
				*dst = append(*dst, it.Value)
			}
		}
		check("who", &r.Who, access.CheckSelector)
		check("instances", &r.Instances, func(s string) error { _, err := access.Expand(s, names); return err })
		check("rights", &r.Rights, func(s string) error { _, err := access.ParseRight(s); return err })
		if err := d.Finish(); err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	pol, err := access.New(rules, names)
	if err != nil {
		return nil, &settings.Error{File: p.all.Source().Path, Key: "access", Msg: err.Error()}
	}
	return pol, nil
}
