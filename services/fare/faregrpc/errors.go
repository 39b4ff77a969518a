package faregrpc

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/waybill/waybill/services/fare/fare"
)

// errorDomain is the ErrorInfo domain of the fare service's errors.
const errorDomain = "fare.waybill.dev"

// toStatus translates a domain error into the gRPC status the caller sees: the one
// place fare's errors become codes. Errors that are already statuses (from auth) pass
// through; unknown errors are returned as they are, and the server's interceptor logs
// them and answers INTERNAL with an error id.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *fare.FieldError
	switch {
	case errors.As(err, &fe):
		return withDetails(codes.InvalidArgument, fe.Error(), "INVALID_ARGUMENT",
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: fe.Field, Description: fe.Description}}})
	case errors.Is(err, fare.ErrNotFound):
		return withDetails(codes.NotFound, err.Error(), "NOT_FOUND")
	case errors.Is(err, fare.ErrAlreadyExists):
		return withDetails(codes.AlreadyExists, err.Error(), "ALREADY_EXISTS")
	case errors.Is(err, fare.ErrStaleVersion):
		return withDetails(codes.Aborted, err.Error(), "STALE_VERSION")
	case errors.Is(err, fare.ErrConflict):
		return withDetails(codes.Aborted, "the change lost a race with a concurrent one; retry", "CONFLICT")
	case errors.Is(err, fare.ErrPermissionDenied):
		return withDetails(codes.PermissionDenied, err.Error(), "PERMISSION_DENIED")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
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
