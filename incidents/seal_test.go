package incidents_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
)

type payload struct {
	A string `json:"a"`
	N int    `json:"n"`
}

func TestSealer(t *testing.T) {
	s := testSealer(t)
	other, err := incidents.NewSealer([]byte(strings.Repeat("y", 32)))
	if err != nil {
		t.Fatal(err)
	}
	in := payload{A: "x", N: 7}
	forever, err := s.Seal("k", in, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	brief, err := s.Seal("k", in, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(forever)
	flipped[5] ^= 0x01
	payloadOnly, _, _ := strings.Cut(forever, ".")
	_, sig, _ := strings.Cut(brief, ".")
	for _, tc := range []struct {
		name, kind, token string
		at                time.Time
		sealer            *incidents.Sealer
		want              error
	}{
		{"round trip", "k", forever, now.Add(1000 * time.Hour), s, nil},
		{"within its life", "k", brief, now.Add(59 * time.Second), s, nil},
		{"at its expiry", "k", brief, now.Add(time.Minute), s, incidents.ErrExpired},
		{"other kind", "j", forever, now, s, incidents.ErrTampered},
		{"other key", "k", forever, now, other, incidents.ErrTampered},
		{"a flipped bit", "k", string(flipped), now, s, incidents.ErrTampered},
		{"no signature", "k", payloadOnly, now, s, incidents.ErrTampered},
		{"another token's signature", "k", payloadOnly + "." + sig, now, s, incidents.ErrTampered},
		{"empty", "k", "", now, s, incidents.ErrTampered},
		{"not base64", "k", "!!!.???", now, s, incidents.ErrTampered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out payload
			err := tc.sealer.Open(tc.kind, tc.token, tc.at, &out)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			if err == nil && out != in {
				t.Errorf("opened %+v, sealed %+v", out, in)
			}
		})
	}
	t.Run("short secret", func(t *testing.T) {
		if _, err := incidents.NewSealer(make([]byte, incidents.MinSecretLen-1)); err == nil {
			t.Error("a short secret was accepted")
		}
	})
	t.Run("a wrong shape", func(t *testing.T) {
		var n int
		if err := s.Open("k", forever, now, &n); !errors.Is(err, incidents.ErrTampered) {
			t.Errorf("Open into an int = %v", err)
		}
	})
}

// TestSealFormat: a token is the payload and its HMAC-SHA256, each in
// unpadded base64url, joined by a dot, whichever goroutine seals it (the
// HMAC states are reused).
func TestSealFormat(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	s, err := incidents.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				tok, err := s.Seal("cursor", payload{A: strings.Repeat("x", i*j), N: j}, time.Minute, now)
				if err != nil {
					t.Error(err)
					return
				}
				p, sig, _ := strings.Cut(tok, ".")
				body, err := base64.RawURLEncoding.DecodeString(p)
				if err != nil {
					t.Error(err)
					return
				}
				h := hmac.New(sha256.New, key)
				h.Write(body)
				if want := base64.RawURLEncoding.EncodeToString(h.Sum(nil)); sig != want {
					t.Errorf("signature %s, want %s", sig, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
