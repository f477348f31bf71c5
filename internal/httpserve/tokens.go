package httpserve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/incident-mcp/incident-mcp/caller"
)

// minTokenLen keeps guessable tokens out of the file.
const minTokenLen = 16

// Tokens authenticates static bearer tokens listed in a file, one per line:
// "TOKEN", "NAME TOKEN" or "NAME TOKEN GROUP[,GROUP…]". The name is what the
// audit log and the logs show; a token without one is named by a short hash
// of itself. The groups are the principal's, for "group:" selectors in the
// configuration, as an OAuth token's groups claim would be.
// Blank lines and lines starting with # are skipped. Reload re-reads the file
// (on SIGHUP); a file that fails to parse keeps the previous tokens.
type Tokens struct {
	path    string
	entries atomic.Pointer[[]tokenEntry]
}

type tokenEntry struct {
	name   string
	groups []string
	sum    [sha256.Size]byte
}

// LoadTokens reads the tokens file at path.
func LoadTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload re-reads the file; on error the previous tokens stay in force.
func (t *Tokens) Reload() error {
	b, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("tokens file: %w", err)
	}
	entries, err := parseTokens(b)
	if err != nil {
		return fmt.Errorf("tokens file %s: %w", t.path, err)
	}
	t.entries.Store(&entries)
	return nil
}

// Len is the number of tokens in force.
func (t *Tokens) Len() int { return len(*t.entries.Load()) }

func parseTokens(b []byte) ([]tokenEntry, error) {
	var out []tokenEntry
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var name, tok string
		var groups []string
		switch f := strings.Fields(line); len(f) {
		case 1:
			tok = f[0]
		case 2:
			name, tok = f[0], f[1]
		case 3:
			name, tok = f[0], f[1]
			for _, g := range strings.Split(f[2], ",") {
				if g = strings.TrimSpace(g); g != "" {
					groups = append(groups, g)
				}
			}
		default:
			return nil, fmt.Errorf("line %d: want \"TOKEN\", \"NAME TOKEN\" or \"NAME TOKEN GROUP,GROUP\"", n)
		}
		if len(tok) < minTokenLen {
			return nil, fmt.Errorf("line %d: a token needs at least %d characters (try: openssl rand -hex 32)", n, minTokenLen)
		}
		sum := sha256.Sum256([]byte(tok))
		if name == "" {
			name = "token-" + hex.EncodeToString(sum[:4])
		}
		if names[name] {
			return nil, fmt.Errorf("line %d: name %q is used twice", n, name)
		}
		names[name] = true
		out = append(out, tokenEntry{name: name, groups: groups, sum: sum})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no tokens")
	}
	return out, nil
}

// Authenticate compares the token with every entry in constant time: the
// hashes have a fixed length and the loop never stops early, so the time
// taken tells nothing about how much of a token matched, or which.
func (t *Tokens) Authenticate(_ context.Context, token string) (caller.Identity, error) {
	sum := sha256.Sum256([]byte(token))
	found := -1
	entries := *t.entries.Load()
	for i := range entries {
		if subtle.ConstantTimeCompare(sum[:], entries[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return caller.Identity{}, errInvalidToken
	}
	e := entries[found]
	return caller.Identity{Name: e.name, Method: caller.MethodToken, Groups: slices.Clone(e.groups)}, nil
}

// Challenge is the WWW-Authenticate value of a 401.
func (t *Tokens) Challenge(errCode string) string {
	return bearerChallenge(errCode, "")
}

// bearerChallenge renders an RFC 6750 challenge, with the RFC 9728
// resource_metadata parameter when there is metadata to point at.
func bearerChallenge(errCode, metadataURL string) string {
	s := `Bearer realm="incident-mcp"`
	if errCode != "" {
		s += `, error="` + errCode + `"`
	}
	if metadataURL != "" {
		s += `, resource_metadata="` + metadataURL + `"`
	}
	return s
}
