package grpcserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/kit/grpcerr"
)

// RequestIDHeader is the metadata key carrying a caller's request id across hops. The
// gateway copies the HTTP X-Request-Id header into it.
const RequestIDHeader = "x-request-id"

// interceptors wraps every call with: a request-scoped logger (method, request id, trace
// id), a default deadline, panic recovery, masking of internal errors, and one log line.
type interceptors struct {
	logger         *slog.Logger
	defaultTimeout time.Duration
	// domain is the ErrorInfo domain of the service's errors (grpcerr.Domain).
	domain string
}

func (ic *interceptors) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel, log := ic.begin(ctx, info.FullMethod, true)
	defer cancel()
	start := time.Now()
	resp, err := ic.protect(func() (any, error) { return handler(ctx, req) })
	err = ic.finish(ctx, log, start, err)
	return resp, err
}

func (ic *interceptors) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	// Streams are long-lived by design: no default deadline.
	ctx, cancel, log := ic.begin(ss.Context(), info.FullMethod, false)
	defer cancel()
	start := time.Now()
	_, err := ic.protect(func() (any, error) { return nil, handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx}) })
	return ic.finish(ctx, log, start, err)
}

// begin derives the call's context: logger, request id and (for unary calls) a deadline.
func (ic *interceptors) begin(ctx context.Context, method string, unary bool) (context.Context, context.CancelFunc, *slog.Logger) {
	requestID := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(RequestIDHeader); len(v) > 0 {
			requestID = v[0]
		}
	}
	if requestID == "" {
		requestID = NewID()
	}
	attrs := []any{slog.String("method", method), slog.String("request_id", requestID)}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	log := ic.logger.With(attrs...)
	ctx = metadata.AppendToOutgoingContext(ctx, RequestIDHeader, requestID)

	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); unary && !ok && ic.defaultTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, ic.defaultTimeout)
	}
	return ctx, cancel, log
}

// protect turns a panic in the handler into an error, keeping the stack for the log.
func (ic *interceptors) protect(call func() (any, error)) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return call()
}

// finish maps the handler's error to what the caller may see and writes the call's one
// log line. Domain errors (kit/errs) become statuses here, the one translation of every
// service (grpcerr.ToStatus); statuses other than Unknown and Internal pass through.
// Anything else is logged with a fresh error id and masked as Internal carrying only
// that id.
func (ic *interceptors) finish(ctx context.Context, log *slog.Logger, start time.Time, err error) error {
	elapsed := slog.Duration("elapsed", time.Since(start))
	if err == nil {
		log.Debug("call", elapsed, slog.String("code", codes.OK.String()))
		return nil
	}
	cause := err
	err = grpcerr.ToStatus(err, ic.domain)
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown && st.Code() != codes.Internal {
		if cause != err {
			// Keep the domain error's cause (a database error, say) in the log.
			log.Info("call", elapsed, slog.String("code", st.Code().String()), slog.Any("error", cause))
		} else {
			log.Info("call", elapsed, slog.String("code", st.Code().String()), slog.String("error", st.Message()))
		}
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		log.Info("call", elapsed, slog.String("code", codes.DeadlineExceeded.String()))
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		log.Info("call", elapsed, slog.String("code", codes.Canceled.String()))
		return status.Error(codes.Canceled, "canceled")
	}
	errorID := NewID()
	log.Error("call", elapsed, slog.String("code", codes.Internal.String()), slog.String("error_id", errorID), slog.Any("error", err))
	return Internal(errorID)
}

// Internal returns the status every masked internal error becomes: a generic message and
// the error id under which the original was logged.
func Internal(errorID string) error {
	st := status.New(codes.Internal, "internal error (error id "+errorID+")")
	if d, err := st.WithDetails(&errdetails.ErrorInfo{
		Reason:   "INTERNAL",
		Domain:   "waybill.dev",
		Metadata: map[string]string{"error_id": errorID},
	}); err == nil {
		st = d
	}
	return st.Err()
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

// NewID returns a fresh random id of 16 hex digits: the request id of a call that arrives
// without one (the gateway's HTTP requests too), and the id of a masked error.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
