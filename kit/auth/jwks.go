package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The JWKS reader is hand-written (about 200 lines) rather than taken from
// MicahParks/keyfunc: that one refreshes in a goroutine that lives as long as a context
// the Signer's callers do not have, and brings its own JWK library for the two key types
// (RSA and EC) used here.

// maxJWKSBytes bounds a JWKS document: a real one is a few kilobytes.
const maxJWKSBytes = 1 << 20

// fetchTimeout bounds one read of the JWKS. A read serves every caller waiting for it,
// so it runs on its own deadline rather than on one caller's.
const fetchTimeout = 10 * time.Second

// keySet holds an identity provider's public keys by key id, read from a JWKS file or
// URL. A key id not in the set reads the source again at once, at most once per
// minInterval; keys older than refresh are read again in the background while the
// current ones keep verifying.
type keySet struct {
	source      string
	client      *http.Client
	refresh     time.Duration
	minInterval time.Duration
	now         func() time.Time
	logger      *slog.Logger

	fetchMu    sync.Mutex  // one read at a time
	refreshing atomic.Bool // a background read is running

	mu        sync.RWMutex
	keys      map[string]publicKey
	fetchedAt time.Time // the last successful read
	triedAt   time.Time // the last read, successful or not
}

// publicKey is one JWKS key and the one algorithm it verifies.
type publicKey struct {
	alg string
	key crypto.PublicKey
}

// newKeySet returns the key set of o.JWKS, read once: a file that fails to read or parse
// is an error, a URL that fails is read again when a token needs it.
func newKeySet(o Options, now func() time.Time) (*keySet, error) {
	k := &keySet{source: o.JWKS, client: o.HTTPClient, refresh: o.JWKSRefresh, minInterval: o.JWKSMinInterval,
		now: now, logger: o.Logger, keys: map[string]publicKey{}}
	if !k.remote() {
		if err := k.fetch(); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err := k.fetch(); err != nil {
		k.logger.Warn("read JWKS; retrying when a token needs it", slog.String("jwks", k.source), slog.Any("error", err))
	}
	return k, nil
}

func (k *keySet) remote() bool {
	return strings.HasPrefix(k.source, "https://") || strings.HasPrefix(k.source, "http://")
}

// key returns the key kid for a token signed with alg, reading the JWKS again when kid
// is unknown (rate-limited) or the keys are stale (in the background).
func (k *keySet) key(kid, alg string) (crypto.PublicKey, error) {
	k.mu.RLock()
	pk, ok := k.keys[kid]
	stale := k.now().Sub(k.fetchedAt) >= k.refresh
	k.mu.RUnlock()
	if !ok {
		// An unknown key id may be a key the provider has just rotated in: read the set
		// now, unless it was read (or tried) too recently.
		k.refetch(kid)
		pk, ok = k.lookup(kid)
	} else if stale && k.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer k.refreshing.Store(false)
			k.refetch("")
		}()
	}
	if !ok {
		return nil, refuse("unknown key id %.64q", kid)
	}
	if pk.alg != alg {
		return nil, refuse("key %q verifies %s, not %s", kid, pk.alg, alg)
	}
	return pk.key, nil
}

func (k *keySet) lookup(kid string) (publicKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	pk, ok := k.keys[kid]
	return pk, ok
}

// refetch reads the set again unless it was read or tried within minInterval. With a
// kid it first looks again: a concurrent read may have brought the key already.
func (k *keySet) refetch(kid string) {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	if _, ok := k.lookup(kid); ok && kid != "" {
		return
	}
	k.mu.RLock()
	recent := !k.triedAt.IsZero() && k.now().Sub(k.triedAt) < k.minInterval
	k.mu.RUnlock()
	if recent {
		return
	}
	if err := k.fetch(); err != nil {
		k.logger.Warn("read JWKS", slog.String("jwks", k.source), slog.Any("error", err))
	}
}

// fetch reads and parses the source and replaces the keys. A read that fails keeps the
// keys there were.
func (k *keySet) fetch() error {
	k.mu.Lock()
	k.triedAt = k.now()
	k.mu.Unlock()
	body, err := k.read()
	if err != nil {
		return err
	}
	keys, err := parseJWKS(body, k.logger)
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", k.source, err)
	}
	k.mu.Lock()
	k.keys, k.fetchedAt = keys, k.now()
	k.mu.Unlock()
	return nil
}

func (k *keySet) read() ([]byte, error) {
	if !k.remote() {
		f, err := os.Open(k.source)
		if err != nil {
			return nil, fmt.Errorf("read JWKS: %w", err)
		}
		defer f.Close()
		return io.ReadAll(io.LimitReader(f, maxJWKSBytes))
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.source, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get JWKS %s: %s", k.source, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
}

// jwk is one key of a JWKS document (RFC 7517, 7518): the fields of RSA and EC public
// keys.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS returns the signing keys of a JWKS document by key id. Keys that cannot
// verify tokens here (no kid, encryption keys, symmetric or unknown types, weak RSA)
// are skipped and logged, so one odd key does not hide the others.
func parseJWKS(body []byte, logger *slog.Logger) (map[string]publicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	keys := map[string]publicKey{}
	for _, j := range doc.Keys {
		pk, err := j.publicKey()
		if err != nil {
			logger.Warn("JWKS key skipped", slog.String("kid", j.Kid), slog.String("kty", j.Kty), slog.Any("error", err))
			continue
		}
		keys[j.Kid] = pk
	}
	return keys, nil
}

// publicKey returns the key and the algorithm it verifies: RS256 for RSA unless the key
// names RS384 or RS512, and the ES algorithm of an EC key's curve.
func (j jwk) publicKey() (publicKey, error) {
	if j.Kid == "" {
		return publicKey{}, fmt.Errorf("no kid")
	}
	if j.Use != "" && j.Use != "sig" {
		return publicKey{}, fmt.Errorf("use %q is not sig", j.Use)
	}
	switch j.Kty {
	case "RSA":
		alg := j.Alg
		if alg == "" {
			alg = "RS256"
		}
		if alg != "RS256" && alg != "RS384" && alg != "RS512" {
			return publicKey{}, fmt.Errorf("alg %q for an RSA key", j.Alg)
		}
		n, err := b64int(j.N)
		if err != nil {
			return publicKey{}, fmt.Errorf("n: %w", err)
		}
		e, err := b64int(j.E)
		if err != nil {
			return publicKey{}, fmt.Errorf("e: %w", err)
		}
		if n.BitLen() < 2048 {
			return publicKey{}, fmt.Errorf("RSA key of %d bits, want at least 2048", n.BitLen())
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return publicKey{}, fmt.Errorf("bad RSA exponent")
		}
		return publicKey{alg: alg, key: &rsa.PublicKey{N: n, E: int(e.Int64())}}, nil
	case "EC":
		var curve elliptic.Curve
		var alg string
		switch j.Crv {
		case "P-256":
			curve, alg = elliptic.P256(), "ES256"
		case "P-384":
			curve, alg = elliptic.P384(), "ES384"
		case "P-521":
			curve, alg = elliptic.P521(), "ES512"
		default:
			return publicKey{}, fmt.Errorf("curve %q", j.Crv)
		}
		if j.Alg != "" && j.Alg != alg {
			return publicKey{}, fmt.Errorf("alg %q for curve %s", j.Alg, j.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, errX := base64.RawURLEncoding.DecodeString(j.X)
		y, errY := base64.RawURLEncoding.DecodeString(j.Y)
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return publicKey{}, fmt.Errorf("bad x or y for %s", j.Crv)
		}
		// ParseUncompressedPublicKey checks that the point is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return publicKey{}, err
		}
		return publicKey{alg: alg, key: pub}, nil
	}
	return publicKey{}, fmt.Errorf("key type %q cannot verify tokens here", j.Kty)
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("not base64url: %q", s)
	}
	return new(big.Int).SetBytes(b), nil
}
