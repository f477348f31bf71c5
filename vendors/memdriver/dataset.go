package memdriver

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// Generate returns n reproducible incidents for seed, created within the 60
// days before now, with native ids "inc-0001"...: every severity and
// status, tags, assignees, devices, users, policies and tenants, so every
// filter argument selects something.
func Generate(seed uint64, n int, now time.Time) []schema.Incident {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := []string{"Suspicious", "PowerShell", "lateral", "movement", "credential", "dumping", "lsass", "ransomware", "beacon", "exfiltration", "phishing", "macro"}
	tags := []string{"edr", "mail", "network", "usb", "cloud"}
	out := make([]schema.Incident, n)
	for i := range out {
		created := now.Add(-time.Duration(rng.Int64N(int64(60 * 24 * time.Hour)))).UTC().Truncate(time.Second)
		inc := schema.Incident{
			ID:        fmt.Sprintf("inc-%04d", i+1),
			Number:    fmt.Sprint(i + 1),
			Title:     fmt.Sprintf("%s %s %s on host-%d", words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(40)),
			Severity:  schema.Severities[rng.IntN(len(schema.Severities))],
			Status:    schema.Statuses[rng.IntN(len(schema.Statuses))],
			CreatedAt: created,
			UpdatedAt: created.Add(time.Duration(rng.Int64N(int64(now.Sub(created)) + 1))).Truncate(time.Second),
			Tenant:    fmt.Sprintf("tenant-%d", rng.IntN(3)),
			Tags:      []string{tags[rng.IntN(len(tags))]},
			Devices:   []schema.Ref{{ID: fmt.Sprintf("dev-%d", rng.IntN(30)), Name: fmt.Sprintf("host-%d", rng.IntN(30))}},
			Users:     []schema.Ref{{ID: fmt.Sprintf("user-%d", rng.IntN(20))}},
			Policy:    &schema.Ref{ID: fmt.Sprintf("pol-%d", rng.IntN(5))},
		}
		if rng.IntN(3) > 0 {
			inc.Assignee = &schema.Ref{ID: fmt.Sprintf("user-%d", rng.IntN(8))}
		}
		if rng.IntN(4) == 0 {
			inc.Tags = append(inc.Tags, tags[rng.IntN(len(tags))])
		}
		if inc.Status == schema.StatusClosed {
			inc.Resolution = schema.ResolutionTruePositive
		}
		out[i] = inc
	}
	return out
}
