// Package auth carries who is calling: signed bearer tokens with a subject and a role,
// verified by every service from the call's "authorization" metadata (the gateway
// forwards the HTTP Authorization header as is), and the identity in the context.
//
// A token is base64url(JSON claims) "." base64url(HMAC-SHA256(claims)), signed with a
// secret every process of a deployment shares. Services decide authorization themselves
// from the Identity: a customer sees and changes only their own resources; operators and
// services see all.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/waybill/waybill/kit/caller"
)

// Role is what kind of caller an identity is (caller.Role).
type Role = caller.Role

// The roles.
const (
	RoleCustomer = caller.Customer
	RoleDriver   = caller.Driver
	RoleOperator = caller.Operator
	RoleService  = caller.Service
)

// Identity is an authenticated caller (caller.Caller): services pass it to their domain
// as it is.
type Identity = caller.Caller

type claims struct {
	Identity
	Expires int64 `json:"exp"`
}

// ErrInvalidToken is returned for malformed, forged or expired tokens.
var ErrInvalidToken = errors.New("invalid token")

// Signer issues and verifies tokens with one secret.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a signer for secret, which must be at least 16 bytes.
func NewSigner(secret string) (*Signer, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("auth secret must be at least 16 bytes, got %d", len(secret))
	}
	return &Signer{key: []byte(secret), now: time.Now}, nil
}

// Sign issues a token for id valid for ttl.
func (s *Signer) Sign(id Identity, ttl time.Duration) (string, error) {
	if id.Subject == "" || !id.Role.Valid() {
		return "", fmt.Errorf("auth: identity needs a subject and a known role, got %+v", id)
	}
	body, err := json.Marshal(claims{Identity: id, Expires: s.now().Add(ttl).Unix()})
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// Verify checks a token's signature and expiry and returns its identity.
func (s *Signer) Verify(token string) (Identity, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Identity{}, ErrInvalidToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return Identity{}, ErrInvalidToken
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Identity{}, ErrInvalidToken
	}
	var c claims
	if err := json.Unmarshal(body, &c); err != nil || c.Subject == "" || !c.Role.Valid() {
		return Identity{}, ErrInvalidToken
	}
	if s.now().Unix() >= c.Expires {
		return Identity{}, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	return c.Identity, nil
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

type ctxKey struct{}

// WithIdentity returns a context carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the caller's identity, if the call carried a valid token.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}
