package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/waybill/waybill/kit/grpcserver"
)

// A failed call's status reaches the caller as grpc-gateway renders it (the HTTP status
// from the code, the status as JSON), after two edits made here:
//
//   - UNAVAILABLE without details is the gateway's own gRPC client failing to reach a
//     service ("connection error: … dial tcp 127.0.0.1:…"): internal addresses are not
//     for callers. It becomes a generic message with an error id, and the detail is
//     logged with that id. (Services' own errors carry an ErrorInfo, from kit/grpcerr,
//     and pass unchanged.)
//   - Messages and field descriptions longer than maxMessage are cut: they quote input
//     (protojson's "invalid value for string field customerId: 7777…", a service's
//     "unknown currency %q"), and an error must not send megabytes back.

// maxMessage is the longest error message or field description the gateway sends, in
// bytes.
const maxMessage = 512

// errorHandler renders a failed unary call or a stream that failed before its first
// message.
func (g *Gateway) errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, g.publicError(ctx, err))
}

// streamErrorHandler renders the error that ends a stream after its first message.
func (g *Gateway) streamErrorHandler(ctx context.Context, err error) *status.Status {
	return status.Convert(g.publicError(ctx, err))
}

// publicError returns err as a caller may see it.
func (g *Gateway) publicError(ctx context.Context, err error) error {
	var withHTTP *runtime.HTTPStatusError // a routing error: keep its HTTP status
	if errors.As(err, &withHTTP) {
		return &runtime.HTTPStatusError{HTTPStatus: withHTTP.HTTPStatus, Err: g.publicError(ctx, withHTTP.Err)}
	}
	st := status.Convert(err)
	if st.Code() == codes.Unavailable && len(st.Details()) == 0 {
		return g.unreachable(ctx, st)
	}
	return truncate(st).Err()
}

// unreachable logs a backend's transport failure under a new error id and returns the
// generic UNAVAILABLE that callers see instead.
func (g *Gateway) unreachable(ctx context.Context, st *status.Status) error {
	id := grpcserver.NewID()
	attrs := []slog.Attr{slog.String("error_id", id), slog.String("error", st.Message())}
	if method, ok := runtime.RPCMethod(ctx); ok {
		attrs = append(attrs, slog.String("rpc", method))
	}
	if a := accessOf(ctx); a != nil {
		attrs = append(attrs, slog.String("route", a.route), slog.String("request_id", a.requestID))
	}
	g.logger.LogAttrs(ctx, slog.LevelWarn, "backend unavailable", attrs...)
	out := status.New(codes.Unavailable, "service unavailable; retry later (error id "+id+")")
	if d, err := out.WithDetails(&errdetails.ErrorInfo{Reason: "SERVICE_UNAVAILABLE", Domain: "waybill.dev",
		Metadata: map[string]string{"error_id": id}}); err == nil {
		out = d
	}
	return out.Err()
}

// truncate returns st with its message and BadRequest field descriptions cut to
// maxMessage bytes.
func truncate(st *status.Status) *status.Status {
	p := st.Proto()
	changed := false
	if len(p.GetMessage()) > maxMessage {
		p.Message, changed = clip(p.GetMessage()), true
	}
	for i, d := range p.GetDetails() {
		var br errdetails.BadRequest
		if !d.MessageIs(&br) || d.UnmarshalTo(&br) != nil {
			continue
		}
		cut := false
		for _, v := range br.GetFieldViolations() {
			if len(v.GetDescription()) > maxMessage {
				v.Description, cut = clip(v.GetDescription()), true
			}
			if len(v.GetField()) > maxMessage {
				v.Field, cut = clip(v.GetField()), true
			}
		}
		if a, err := anypb.New(&br); cut && err == nil {
			p.Details[i], changed = a, true
		}
	}
	if !changed {
		return st
	}
	return status.FromProto(p)
}

// clip cuts s to at most maxMessage bytes, on a character boundary, saying how much was
// left out.
func clip(s string) string {
	n := maxMessage
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:n], len(s)-n)
}
