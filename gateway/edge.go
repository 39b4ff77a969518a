package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"

	"github.com/waybill/waybill/kit/auth"
)

// The gateway's edge checks run before a request reaches a service, in this order:
//
//  1. A body whose declared length is over the cap (Config.MaxBodyBytes) is refused with
//     413 at once, token or not, without reading it.
//  2. A public route (publicRoutes, the one list) is served as it is.
//  3. Every other route needs a valid bearer token: none, another scheme, or a token that
//     does not verify is refused with 401 and a Bearer challenge, before the body is read
//     or any service is called. The scheme name is case-insensitive (RFC 7235).
//  4. Each caller (the token's subject) is held to a request rate (429 with Retry-After).
//  5. The body is read up to the cap; one that runs past it (a chunked body) is refused
//     with 413 and read no further. So no service is called for a request the gateway
//     refuses, and no request holds more than the cap in memory.
//
// Services still verify tokens and decide authorization themselves: they trust no hop.

// edge is the gateway's front handler: access log, body cap, authentication and rate
// limit around the root mux.
type edge struct {
	root    *http.ServeMux
	signer  *auth.Signer
	limiter *limiter
	maxBody int64
	logger  *slog.Logger
}

func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &access{requestID: r.Header.Get("X-Request-Id")}
	sw := &statusWriter{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), accessKey{}, rec))
	e.serve(sw, r, rec)
	rec.log(r.Context(), e.logger, r.Method, sw.status(), time.Since(start))
}

func (e *edge) serve(w http.ResponseWriter, r *http.Request, rec *access) {
	_, pattern := e.root.Handler(r)
	rec.route = routeOfPattern(pattern)
	if r.ContentLength > e.maxBody {
		e.tooLarge(w)
		return
	}
	if publicRoutes[pattern] {
		e.root.ServeHTTP(w, r)
		return
	}
	id, ok := e.authenticate(w, r)
	if !ok {
		return
	}
	rec.caller = id
	if e.limiter != nil {
		if wait := e.limiter.take(callerKey(&id, r), time.Now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeStatus(w, http.StatusTooManyRequests, codes.ResourceExhausted, "rate limit exceeded; retry later")
			return
		}
	}
	if !e.readBody(w, r) {
		return
	}
	e.root.ServeHTTP(w, r)
}

// authenticate returns the identity of r's bearer token, or answers 401 and returns
// false. The Authorization header is forwarded to the services in its canonical form.
func (e *edge) authenticate(w http.ResponseWriter, r *http.Request) (auth.Identity, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		unauthorized(w, "this route needs a bearer token (Authorization: Bearer <token>)")
		return auth.Identity{}, false
	}
	tok, ok := auth.BearerToken(h)
	if !ok {
		unauthorized(w, `authorization must be "Bearer <token>"`)
		return auth.Identity{}, false
	}
	id, err := e.signer.Verify(tok)
	if err != nil {
		msg := auth.ErrInvalidToken.Error()
		if errors.Is(err, auth.ErrInvalidToken) {
			msg = err.Error() // the reason, in words written for the caller
		}
		unauthorized(w, msg)
		return auth.Identity{}, false
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return id, true
}

// readBody reads r's body, up to the cap, so that the handlers read it from memory; a
// body past the cap is answered 413 (and false).
func (e *edge) readBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, e.maxBody+1))
	if int64(len(body)) > e.maxBody {
		e.tooLarge(w)
		return false
	}
	if err != nil {
		writeStatus(w, http.StatusBadRequest, codes.InvalidArgument, "could not read the request body")
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return true
}

func (e *edge) tooLarge(w http.ResponseWriter) {
	// The unread rest of the body is not read: net/http closes the connection instead.
	w.Header().Set("Connection", "close")
	writeStatus(w, http.StatusRequestEntityTooLarge, codes.InvalidArgument,
		fmt.Sprintf("request body over the gateway's limit of %d bytes", e.maxBody))
}

// unauthorized answers 401 with a Bearer challenge (RFC 6750).
func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="waybill"`)
	writeStatus(w, http.StatusUnauthorized, codes.Unauthenticated, msg)
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

// limiter holds one token bucket (a rate.Limiter) per caller: rate tokens a second, up
// to burst. Buckets idle long enough to be full again are dropped, so memory follows the
// active callers: a full bucket is the same as a new one, so dropping it changes no
// caller's limit.
type limiter struct {
	rate  rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// newLimiter returns a limiter, or nil (no limit) when perSecond is not positive.
func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{rate: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*rate.Limiter{}}
}

// take spends one token of key's bucket at now; when none is left it spends nothing and
// returns how long until one is.
func (l *limiter) take(key string, now time.Time) time.Duration {
	// One lock over the map and the bucket: a sweep cannot drop a bucket between its
	// lookup and the reservation (which would forget a token just spent).
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now) // refused: give the token back, as if the request never came
		return wait
	}
	return 0
}

// sweep drops, at most once a minute, the buckets that have refilled completely.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
}
