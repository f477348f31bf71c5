package approval

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Approvers checks an approver's name and password.
type Approvers interface {
	// Check returns the approver's identity (as the audit records it) when
	// name and password match.
	Check(name, password string) (identity string, ok bool)
}

// Demo approvers, only in --demo: documented so anyone trying the demo can
// approve (two of them, to try the four-eyes rule), never accepted outside it.
const (
	DemoApprover       = "demo-approver"
	DemoSecondApprover = "demo-second-approver"
	DemoPassword       = "demo-approver-password" //nolint:gosec // the documented approver of --demo, used nowhere else
)

// credentials is a set of approvers with password hashes.
type credentials struct {
	hashes map[string]string
	// dummy is checked for unknown names, so their answer takes as long
	// as a wrong password and does not tell which names exist.
	dummy string
}

// LoadApprovers reads an approvers file: one "name:hash" per line, where hash
// is bcrypt ($2a$/$2b$/$2y$, e.g. from `htpasswd -nbB`) or argon2id in the
// PHC form ($argon2id$v=19$m=65536,t=3,p=4$salt$key). Blank lines and lines
// starting with # are ignored. Keep it apart from the MCP client tokens: an
// approver is a person, never the model's credential.
func LoadApprovers(path string) (Approvers, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("approvers file: %w", err)
	}
	return parseApprovers(b)
}

// dummyHash is the hash unknown names are checked against: one per
// process, made on first use (a bcrypt hash costs as much to make as to
// check, and every load of the file would pay it again).
var dummyHash = sync.OnceValues(func() ([]byte, error) {
	random := make([]byte, 18)
	rand.Read(random)
	return bcrypt.GenerateFromPassword(random, bcrypt.DefaultCost)
})

func parseApprovers(b []byte) (*credentials, error) {
	dummy, err := dummyHash()
	if err != nil {
		return nil, fmt.Errorf("approvers file: %w", err)
	}
	c := &credentials{hashes: map[string]string{}, dummy: string(dummy)}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("approvers file line %d: want name:hash", n)
		}
		if err := checkHashFormat(hash); err != nil {
			return nil, fmt.Errorf("approvers file line %d (%s): %w", n, name, err)
		}
		if _, dup := c.hashes[name]; dup {
			return nil, fmt.Errorf("approvers file line %d: %s is listed twice", n, name)
		}
		c.hashes[name] = hash
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("approvers file: %w", err)
	}
	if len(c.hashes) == 0 {
		return nil, errors.New("approvers file lists no approver")
	}
	return c, nil
}

func checkHashFormat(h string) error {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		_, err := bcrypt.Cost([]byte(h))
		return err
	case strings.HasPrefix(h, "$argon2id$"):
		_, err := parseArgon2id(h)
		return err
	}
	return errors.New("the hash must be bcrypt ($2b$…) or argon2id ($argon2id$…); plain passwords are refused")
}

// Check implements Approvers.
func (c *credentials) Check(name, password string) (string, bool) {
	h, known := c.hashes[name]
	if !known {
		bcrypt.CompareHashAndPassword([]byte(c.dummy), []byte(password))
		return "", false
	}
	if !verify(h, password) {
		return "", false
	}
	return name, true
}

func verify(hash, password string) bool {
	if strings.HasPrefix(hash, "$argon2id$") {
		p, err := parseArgon2id(hash)
		if err != nil {
			return false
		}
		key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
		return subtle.ConstantTimeCompare(key, p.key) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

type argon2Params struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon2id reads $argon2id$v=19$m=65536,t=3,p=4$<salt>$<key> (base64
// without padding, as the reference implementation writes it).
func parseArgon2id(h string) (*argon2Params, error) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return nil, errors.New("argon2id hash: want $argon2id$v=19$m=…,t=…,p=…$salt$key")
	}
	p := &argon2Params{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("argon2id hash: parameter %q", kv)
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n == 0 || n > 255 {
				return nil, fmt.Errorf("argon2id hash: parameter %q", kv)
			}
			p.threads = uint8(n)
		default:
			return nil, fmt.Errorf("argon2id hash: unknown parameter %q", k)
		}
	}
	if p.memory == 0 || p.time == 0 || p.threads == 0 {
		return nil, errors.New("argon2id hash: m, t and p are required")
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return nil, errors.New("argon2id hash: bad salt")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 {
		return nil, errors.New("argon2id hash: bad key")
	}
	return p, nil
}

// demoApprovers accepts only the documented demo approver.
type demoApprovers struct{}

// DemoApprovers is the approver set of --demo.
func DemoApprovers() Approvers { return demoApprovers{} }

func (demoApprovers) Check(name, password string) (string, bool) {
	if name != DemoApprover && name != DemoSecondApprover {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(password), []byte(DemoPassword)) != 1 {
		return "", false
	}
	return name, true
}
