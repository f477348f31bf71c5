package incidents

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
)

// Sealer signs small JSON payloads into opaque tokens (cursors, confirmation
// tokens) with HMAC-SHA256, so that state can live with the client and any
// replica holding the same secret can verify it.
type Sealer struct {
	key  []byte
	macs sync.Pool // HMAC-SHA256 states keyed by key: a new one cost six allocations a token
}

// MinSecretLen is the shortest secret accepted, in bytes.
const MinSecretLen = 32

// NewSealer returns a Sealer keyed by secret.
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("server secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	return &Sealer{key: secret}, nil
}

type envelope struct {
	Kind    string          `json:"k"`
	Expires int64           `json:"e,omitempty"`
	Body    json.RawMessage `json:"b"`
}

// Errors from Open.
var (
	ErrTampered = errors.New("token is malformed or its signature does not match")
	ErrExpired  = errors.New("token has expired")
)

// Seal signs v as a token of the given kind; ttl 0 means no expiry.
func (s *Sealer) Seal(kind string, v any, ttl time.Duration, now time.Time) (string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", kind, err)
	}
	env := envelope{Kind: kind, Body: body}
	if ttl > 0 {
		env.Expires = now.Add(ttl).Unix()
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", kind, err)
	}
	var mac [sha256.Size]byte
	var b strings.Builder
	b.Grow(enc.EncodedLen(len(payload)) + 1 + enc.EncodedLen(len(mac)))
	var scratch [512]byte
	b.Write(enc.AppendEncode(scratch[:0], payload))
	b.WriteByte('.')
	b.Write(enc.AppendEncode(scratch[:0], s.sum(mac[:0], payload)))
	return b.String(), nil
}

// Open verifies a token of the given kind and decodes its payload into v.
func (s *Sealer) Open(kind, token string, now time.Time, v any) error {
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return ErrTampered
	}
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(payload)) {
		return ErrTampered
	}
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil || env.Kind != kind {
		return ErrTampered
	}
	if env.Expires != 0 && now.Unix() >= env.Expires {
		return ErrExpired
	}
	if err := json.Unmarshal(env.Body, v); err != nil {
		return ErrTampered
	}
	return nil
}

func (s *Sealer) mac(payload []byte) []byte {
	return s.sum(nil, payload)
}

// sum appends payload's HMAC to dst.
func (s *Sealer) sum(dst, payload []byte) []byte {
	h, _ := s.macs.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(sha256.New, s.key)
	}
	h.Reset()
	h.Write(payload)
	dst = h.Sum(dst)
	s.macs.Put(h)
	return dst
}

var enc = base64.RawURLEncoding
