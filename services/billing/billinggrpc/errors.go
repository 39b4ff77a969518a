package billinggrpc

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/waybill/waybill/services/billing/billing"
)

// errorDomain is the ErrorInfo domain of billing's errors.
const errorDomain = "billing.waybill.dev"

// codeOf maps a domain sentinel error to its gRPC code.
// The reason is used when the error carries none of its own.
var codeOf = []struct {
	err    error
	code   codes.Code
	reason string
}{
	{billing.ErrNotFound, codes.NotFound, "NOT_FOUND"},
	{billing.ErrAlreadyExists, codes.AlreadyExists, "ALREADY_EXISTS"},
	{billing.ErrFailedPrecondition, codes.FailedPrecondition, "FAILED_PRECONDITION"},
	{billing.ErrStaleVersion, codes.Aborted, billing.ReasonVersionMismatch},
	{billing.ErrConflict, codes.Aborted, billing.ReasonConflict},
	{billing.ErrPermissionDenied, codes.PermissionDenied, billing.ReasonPermissionDenied},
	{billing.ErrUnavailable, codes.Unavailable, "UNAVAILABLE"},
}

// toStatus translates a domain error into the gRPC status the caller sees: the one place
// billing's errors become codes. Errors that are already statuses pass through; unknown
// errors are returned as they are, and the server's interceptor logs them and answers
// INTERNAL with an error id.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *billing.FieldError
	if errors.As(err, &fe) {
		return withDetails(codes.InvalidArgument, fe.Error(), "INVALID_ARGUMENT",
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: fe.Field, Description: fe.Description}}})
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	}
	for _, c := range codeOf {
		if !errors.Is(err, c.err) {
			continue
		}
		var re *billing.ReasonError
		if errors.As(err, &re) {
			return withDetails(c.code, re.Message, re.Reason)
		}
		msg := err.Error()
		if c.err == billing.ErrConflict {
			msg = "the change lost a race with a concurrent one; retry"
		}
		return withDetails(c.code, msg, c.reason)
	}
	return err
}

// withDetails builds a status with an ErrorInfo carrying reason, and any extra details.
func withDetails(code codes.Code, msg, reason string, extra ...protoadapt.MessageV1) error {
	st := status.New(code, msg)
	details := append([]protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain}}, extra...)
	if d, err := st.WithDetails(details...); err == nil {
		st = d
	}
	return st.Err()
}
