// Package auth carries who is calling: JSON Web Tokens (RFC 7519) with a subject and a
// role, verified by every service from the call's "authorization" metadata (the gateway
// forwards the HTTP Authorization header as is), and the identity in the context.
//
// A token carries the standard claims iss, aud, sub, exp, nbf and iat plus a "role"
// claim (customer, driver, operator or service). Two kinds of key verify tokens, each
// pinned to its algorithms so that one can never stand in for the other:
//
//   - the secret every process of a deployment shares (--auth-secret) signs and verifies
//     HS256 tokens: the local default, and what services use to call each other;
//   - an identity provider's public keys, read from a JWKS document (--auth-jwks, a file
//     or an http(s) URL, refreshed periodically and when a token names an unknown key
//     id), verify RS256 and ES256 (ES384, ES512) tokens, so a real identity provider can
//     issue tokens and rotate its keys.
//
// HS tokens are accepted only with the shared secret, RS/ES tokens only with a JWKS key
// of the matching type, and "none" never. Every token must name the configured audience
// and its key source's issuer, carry exp and iat, live no longer than the maximum
// lifetime, and be inside its validity window give or take the clock-skew leeway.
//
// Services decide authorization themselves from the Identity: a customer sees and
// changes only their own resources; operators and services see all.
package auth

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

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

// ErrInvalidToken is returned for every token that is refused: malformed, forged, signed
// with an algorithm or key it may not use, expired, not yet valid, for another audience
// or issuer, or living longer than the maximum lifetime. The error's text says which,
// in words safe to show the caller.
var ErrInvalidToken = errors.New("invalid token")

// refusal is an ErrInvalidToken with its reason.
type refusal struct{ reason string }

func (r *refusal) Error() string        { return ErrInvalidToken.Error() + ": " + r.reason }
func (r *refusal) Is(target error) bool { return target == ErrInvalidToken }

func refuse(format string, args ...any) error {
	return &refusal{reason: fmt.Sprintf(format, args...)}
}

// Options configures a Signer. Start from DefaultOptions. A zero field means its default,
// except Secret, which is required, and Leeway, where zero allows no clock skew.
type Options struct {
	// Secret signs and verifies HS256 tokens; at least 16 bytes, shared by every process
	// of a deployment.
	Secret string
	// Issuer is the iss that Sign writes and that tokens signed with Secret must carry.
	Issuer string
	// Audience is the aud every token must name, whatever signed it; Sign writes it.
	Audience string
	// JWKS is where an identity provider publishes its public keys: a file path or an
	// http(s) URL of a JWKS document. Empty accepts only HS256 tokens.
	JWKS string
	// JWKSIssuer is the iss that tokens verified with a JWKS key must carry (the identity
	// provider's); empty means Issuer.
	JWKSIssuer string
	// MaxLifetime bounds exp − iat: a token meant to live longer is refused, and Sign
	// refuses to issue one.
	MaxLifetime time.Duration
	// Leeway is the clock skew allowed when checking exp, nbf and iat; zero allows none.
	Leeway time.Duration
	// JWKSRefresh is how often the JWKS is read again, so removed keys stop verifying.
	JWKSRefresh time.Duration
	// JWKSMinInterval is the least time between two reads of the JWKS: a token naming an
	// unknown key id reads it at once, but a stream of made-up key ids cannot make the
	// process hammer the identity provider.
	JWKSMinInterval time.Duration
	// HTTPClient reads a JWKS URL; nil uses a client with a 10 s timeout.
	HTTPClient *http.Client
	// Logger reports JWKS reads that fail; nil discards.
	Logger *slog.Logger

	now func() time.Time // the clock; nil is time.Now (tests set it)
}

// DefaultOptions returns the defaults: issuer and audience "waybill" (what the local mesh
// signs and expects), tokens living at most 24 hours, 30 s of leeway, and a JWKS read
// every 15 minutes and at most once a minute.
func DefaultOptions() Options {
	return Options{
		Issuer:          "waybill",
		Audience:        "waybill",
		MaxLifetime:     24 * time.Hour,
		Leeway:          30 * time.Second,
		JWKSRefresh:     15 * time.Minute,
		JWKSMinInterval: time.Minute,
	}
}

// IssueFlags adds the flags that every process minting tokens needs, with o's values as
// defaults: --auth-secret, --auth-issuer, --auth-audience and --auth-max-lifetime.
func (o *Options) IssueFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Secret, "auth-secret", o.Secret, "secret that signs and verifies HS256 bearer tokens, shared by every process")
	fs.StringVar(&o.Issuer, "auth-issuer", o.Issuer, "issuer (iss) of the tokens signed with --auth-secret")
	fs.StringVar(&o.Audience, "auth-audience", o.Audience, "audience (aud) every token must name")
	fs.DurationVar(&o.MaxLifetime, "auth-max-lifetime", o.MaxLifetime, "longest lifetime (exp - iat) a token may have")
}

// Flags adds IssueFlags and the flags that only verifiers need: --auth-jwks,
// --auth-jwks-issuer, --auth-leeway and --auth-jwks-refresh.
func (o *Options) Flags(fs *flag.FlagSet) {
	o.IssueFlags(fs)
	fs.StringVar(&o.JWKS, "auth-jwks", o.JWKS, "JWKS file or http(s) URL of an identity provider whose RS256/ES256 tokens are accepted; empty accepts only HS256 tokens")
	fs.StringVar(&o.JWKSIssuer, "auth-jwks-issuer", o.JWKSIssuer, "issuer (iss) of the tokens verified with --auth-jwks keys; empty means --auth-issuer")
	fs.DurationVar(&o.Leeway, "auth-leeway", o.Leeway, "clock skew allowed when checking a token's exp, nbf and iat")
	fs.DurationVar(&o.JWKSRefresh, "auth-jwks-refresh", o.JWKSRefresh, "how often the JWKS is read again (it is also read when a token names an unknown key, at most once a minute)")
}

// withDefaults fills o's zero fields from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Issuer == "" {
		o.Issuer = d.Issuer
	}
	if o.Audience == "" {
		o.Audience = d.Audience
	}
	if o.JWKSIssuer == "" {
		o.JWKSIssuer = o.Issuer
	}
	if o.MaxLifetime == 0 {
		o.MaxLifetime = d.MaxLifetime
	}
	if o.JWKSRefresh == 0 {
		o.JWKSRefresh = d.JWKSRefresh
	}
	if o.JWKSMinInterval == 0 {
		o.JWKSMinInterval = d.JWKSMinInterval
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// hsMethods and jwksMethods are the algorithms each kind of key verifies.
var (
	hsMethods   = []string{jwt.SigningMethodHS256.Alg()}
	jwksMethods = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}
)

// Signer issues tokens with the shared secret and verifies tokens signed with it or
// with an identity provider's JWKS keys.
type Signer struct {
	opts   Options
	key    []byte
	jwks   *keySet // nil without Options.JWKS
	parser *jwt.Parser
	now    func() time.Time
}

// New returns a Signer for opts. When opts.JWKS is set the key set is read once now: a
// file that cannot be read or parsed is an error; a URL that does not answer is read
// again when the first token needs it.
func New(opts Options) (*Signer, error) {
	if len(opts.Secret) < 16 {
		return nil, fmt.Errorf("auth secret must be at least 16 bytes, got %d", len(opts.Secret))
	}
	opts = opts.withDefaults()
	if opts.MaxLifetime < 0 || opts.Leeway < 0 {
		return nil, fmt.Errorf("auth: max lifetime and leeway must not be negative")
	}
	s := &Signer{opts: opts, key: []byte(opts.Secret), now: time.Now}
	if opts.now != nil {
		s.now = opts.now
	}
	methods := hsMethods
	if opts.JWKS != "" {
		methods = append(append([]string(nil), hsMethods...), jwksMethods...)
		ks, err := newKeySet(opts, func() time.Time { return s.now() })
		if err != nil {
			return nil, err
		}
		s.jwks = ks
	}
	s.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithAudience(opts.Audience),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return s.now() }),
	)
	return s, nil
}

// NewSigner returns a Signer for secret, which must be at least 16 bytes, with the
// default options (no JWKS).
func NewSigner(secret string) (*Signer, error) {
	o := DefaultOptions()
	o.Secret = secret
	return New(o)
}

// claims is a token's payload: the registered claims and the caller's role.
type claims struct {
	jwt.RegisteredClaims
	Role Role `json:"role"`
}

// Sign issues an HS256 token for id valid for ttl (at most the maximum lifetime), from
// now on.
func (s *Signer) Sign(id Identity, ttl time.Duration) (string, error) {
	if id.Subject == "" || !id.Role.Valid() {
		return "", fmt.Errorf("auth: identity needs a subject and a known role, got %+v", id)
	}
	if ttl <= 0 || ttl > s.opts.MaxLifetime {
		return "", fmt.Errorf("auth: token lifetime %v must be positive and at most %v (--auth-max-lifetime)", ttl, s.opts.MaxLifetime)
	}
	now := s.now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.opts.Issuer,
			Subject:   id.Subject,
			Audience:  jwt.ClaimStrings{s.opts.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
		},
		Role: id.Role,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return tok, nil
}

// Verify checks a token's algorithm, signature and claims and returns its identity.
// Every refusal is an ErrInvalidToken. A token naming a JWKS key the signer does not
// know yet may read the JWKS (bounded by a timeout, at most once per JWKSMinInterval).
func (s *Signer) Verify(token string) (Identity, error) {
	var c claims
	tok, err := s.parser.ParseWithClaims(token, &c, s.keyFor)
	if err != nil {
		return Identity{}, refusalOf(err)
	}
	wantIss := s.opts.Issuer
	if tok.Method.Alg() != jwt.SigningMethodHS256.Alg() {
		wantIss = s.opts.JWKSIssuer
	}
	if c.Issuer != wantIss {
		return Identity{}, refuse("wrong issuer")
	}
	if c.IssuedAt == nil {
		return Identity{}, refuse("no iat")
	}
	if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life > s.opts.MaxLifetime {
		return Identity{}, refuse("lifetime %v is over the maximum %v", life, s.opts.MaxLifetime)
	}
	if c.Subject == "" || !c.Role.Valid() {
		return Identity{}, refuse("needs a subject and a known role")
	}
	return Identity{Subject: c.Subject, Role: c.Role}, nil
}

// keyFor returns the key that may verify tok: the shared secret for HS256, a JWKS key
// of the token's algorithm for the others. The parser has already refused algorithms
// outside the configured set ("none" among them).
func (s *Signer) keyFor(tok *jwt.Token) (any, error) {
	alg := tok.Method.Alg()
	if alg == jwt.SigningMethodHS256.Alg() {
		return s.key, nil
	}
	if s.jwks == nil {
		return nil, refuse("algorithm %s not accepted", alg)
	}
	kid, _ := tok.Header["kid"].(string)
	if kid == "" {
		return nil, refuse("%s token without a key id (kid)", alg)
	}
	return s.jwks.key(kid, alg)
}

// refusalOf turns a parser error into an ErrInvalidToken naming the reason.
func refusalOf(err error) error {
	var r *refusal
	switch {
	case errors.As(err, &r):
		return r
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse("malformed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse("bad signature or algorithm")
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse("expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse("not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse("issued in the future")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse("wrong audience")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return refuse("missing a required claim")
	}
	return refuse("unverifiable")
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
