package paymentgrpc

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/waybill/waybill/services/payment/payment"
)

// errorDomain is the ErrorInfo domain of the payment service's errors.
const errorDomain = "payment.waybill.dev"

// withInfo returns a status carrying an ErrorInfo with reason, and extra details.
func withInfo(code codes.Code, msg, reason string, meta map[string]string, extra ...protoadapt.MessageV1) error {
	st := status.New(code, msg)
	details := append([]protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain, Metadata: meta}}, extra...)
	if d, err := st.WithDetails(details...); err == nil {
		st = d
	}
	return st.Err()
}

// toStatus is the one translation of domain errors to gRPC statuses. Errors that are already
// statuses pass through; unknown errors pass through too, for the server's interceptor to log
// and mask as INTERNAL.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *payment.FieldError
	var pe *payment.PreconditionError
	var ae *payment.AbortedError
	switch {
	case errors.As(err, &fe):
		reason := fe.Reason
		if reason == "" {
			reason = payment.ReasonInvalidArgument
		}
		return withInfo(codes.InvalidArgument, fe.Error(), reason, map[string]string{"field": fe.Field},
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: fe.Field, Description: fe.Description}}})
	case errors.As(err, &pe):
		var meta map[string]string
		if pe.DeclineCode != "" {
			meta = map[string]string{"decline_code": pe.DeclineCode}
		}
		return withInfo(codes.FailedPrecondition, pe.Message, pe.Reason, meta)
	case errors.As(err, &ae):
		return withInfo(codes.Aborted, ae.Message, ae.Reason, nil)
	case errors.Is(err, payment.ErrNotFound):
		return withInfo(codes.NotFound, "not found", "NOT_FOUND", nil)
	case errors.Is(err, payment.ErrAlreadyExists):
		return withInfo(codes.AlreadyExists, err.Error(), payment.ReasonSettlementExists, nil)
	case errors.Is(err, payment.ErrUnavailable):
		return withInfo(codes.Unavailable, "the card processor cannot be reached; nothing was charged, retry later", payment.ReasonProcessorUnavailable, nil)
	case errors.Is(err, payment.ErrConflict):
		return withInfo(codes.Aborted, "conflict with a concurrent change; retry", "CONFLICT", nil)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	}
	return err
}

// permissionDenied is the status for callers whose role may not make the call.
func permissionDenied(msg string) error {
	return withInfo(codes.PermissionDenied, msg, "PERMISSION_DENIED", nil)
}
