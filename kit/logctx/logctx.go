// Package logctx carries a request-scoped *slog.Logger in a context, so code deep in a
// request logs with the method, request id and trace id the server's interceptor attached.
package logctx

import (
	"context"
	"log/slog"
)

type key struct{}

// With returns a context carrying logger.
func With(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, key{}, logger)
}

// From returns the logger carried by ctx, or fallback when there is none.
func From(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(key{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}
