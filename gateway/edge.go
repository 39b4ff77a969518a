package gateway

import (
	"encoding/json"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/waybill/waybill/kit/auth"
)

// The gateway's edge checks run before a request reaches a service: a bearer token that
// does not verify is refused here (401) instead of costing a backend call, and each
// caller (the token's subject, or the client address without a token) is held to a
// request rate (429 with Retry-After). Services still verify tokens themselves: they
// trust no hop.

// edge wraps the REST routes with authentication and rate limiting.
type edge struct {
	signer  *auth.Signer
	limiter *limiter
}

func (e *edge) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id *auth.Identity
		if h := r.Header.Get("Authorization"); h != "" {
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				writeStatus(w, http.StatusUnauthorized, codes.Unauthenticated, `authorization must be "Bearer <token>"`)
				return
			}
			verified, err := e.signer.Verify(tok)
			if err != nil {
				writeStatus(w, http.StatusUnauthorized, codes.Unauthenticated, "invalid token")
				return
			}
			id = &verified
		}
		if e.limiter != nil {
			if wait := e.limiter.take(callerKey(id, r), time.Now()); wait > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				writeStatus(w, http.StatusTooManyRequests, codes.ResourceExhausted, "rate limit exceeded; retry later")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// callerKey names the caller a rate limit applies to: the token's subject, or the client
// address of a request without a token.
func callerKey(id *auth.Identity, r *http.Request) string {
	if id != nil {
		return "sub:" + string(id.Role) + ":" + id.Subject
	}
	return "addr:" + clientAddr(r)
}

// writeStatus answers in the same JSON shape grpc-gateway uses for gRPC errors.
func writeStatus(w http.ResponseWriter, httpCode int, code codes.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpCode)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": int(code), "message": msg})
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiter is a token bucket per caller: rate tokens a second, up to burst. Buckets idle
// long enough to be full again are dropped, so memory follows the active callers.
type limiter struct {
	rate  float64
	burst float64

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// newLimiter returns a limiter, or nil (no limit) when rate is not positive.
func newLimiter(rate float64, burst int) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{rate: rate, burst: max(float64(burst), 1), buckets: map[string]*bucket{}}
}

// take spends one token of key's bucket at now; when none is left it spends nothing and
// returns how long until one is.
func (l *limiter) take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return 0
}

// sweep drops, at most once a minute, the buckets that have refilled completely.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.at) > full {
			delete(l.buckets, k)
		}
	}
}
