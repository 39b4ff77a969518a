package bookinggrpc

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/waybill/waybill/services/booking/booking"
)

// errorDomain is the ErrorInfo domain of booking's errors.
const errorDomain = "booking.waybill"

// toStatus maps a domain error to its gRPC status, once: InvalidArgument carries a
// BadRequest naming the fields, FailedPrecondition an ErrorInfo with the reason. Errors it
// does not know are returned unchanged; the server's interceptor logs them and answers
// INTERNAL with an error id.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var invalid *booking.InvalidError
	var pre *booking.PreconditionError
	switch {
	case errors.As(err, &invalid):
		br := &errdetails.BadRequest{}
		for _, v := range invalid.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		return withDetails(codes.InvalidArgument, invalid.Error(), br)
	case errors.As(err, &pre):
		return withDetails(codes.FailedPrecondition, pre.Message, &errdetails.ErrorInfo{Reason: pre.Reason, Domain: errorDomain})
	case errors.Is(err, booking.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, booking.ErrFailedPrecondition):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, booking.ErrNotFound):
		return status.Error(codes.NotFound, "not found")
	case errors.Is(err, booking.ErrPermissionDenied):
		return status.Error(codes.PermissionDenied, "permission denied")
	case errors.Is(err, booking.ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, "this call needs a bearer token")
	case errors.Is(err, booking.ErrAlreadyExists):
		return status.Error(codes.AlreadyExists, "already exists")
	case errors.Is(err, booking.ErrConflict):
		return status.Error(codes.Aborted, "the resource changed concurrently or the version is stale; read it again and retry")
	case errors.Is(err, booking.ErrUnavailable):
		return status.Error(codes.Unavailable, "the fare service could not price this; retry later")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	}
	return err
}

// withDetails returns a status with one detail message.
func withDetails(code codes.Code, msg string, detail protoadapt.MessageV1) error {
	st, err := status.New(code, msg).WithDetails(detail)
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}
