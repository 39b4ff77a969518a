package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/waybill/waybill/kit/auth"
)

// access is what the access log line of one request says, filled in as the request
// goes through the edge, the root mux and grpc-gateway.
type access struct {
	requestID string
	route     string        // the route pattern: "/v1/bills/{bill_id}", "/healthz"
	caller    auth.Identity // zero without a verified token
}

type accessKey struct{}

// accessOf returns the request's access record, or nil outside the edge.
func accessOf(ctx context.Context) *access {
	a, _ := ctx.Value(accessKey{}).(*access)
	return a
}

// log writes the request's access log line.
func (a *access) log(ctx context.Context, logger *slog.Logger, method string, status int, d time.Duration) {
	logger.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("method", method),
		slog.String("route", a.route),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("request_id", a.requestID),
		slog.String("subject", a.caller.Subject),
		slog.String("role", string(a.caller.Role)),
	)
}

// routeOfPattern returns the path of a root mux pattern ("GET /healthz" → "/healthz");
// the API's routes are refined by recordRoute.
func routeOfPattern(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// recordRoute is a grpc-gateway middleware that puts the matched route's path template
// in the access record ("/v1/bills/{bill_id}", not the path with its ids).
func recordRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if a := accessOf(r.Context()); a != nil {
			if p, ok := runtime.HTTPPattern(r.Context()); ok {
				a.route = strings.ReplaceAll(p.String(), "=*}", "}")
			}
		}
		next(w, r, params)
	}
}

// statusWriter remembers the status a handler answered. It keeps http.Flusher, which
// grpc-gateway needs for server streams.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// status returns the status answered (200 when the handler wrote nothing).
func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
