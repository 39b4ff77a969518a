package bookinggrpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/services/booking/booking"
)

func TestToStatus(t *testing.T) {
	plain := errors.New("database on fire")
	tests := []struct {
		err    error
		code   codes.Code
		field  string
		reason string
	}{
		{booking.Invalid("reservation.quantity", "bad"), codes.InvalidArgument, "reservation.quantity", ""},
		{fmt.Errorf("wrapped: %w", booking.Invalid("ids", "too many")), codes.InvalidArgument, "ids", ""},
		{booking.ErrInsufficientAvailability, codes.FailedPrecondition, "", booking.ReasonInsufficientAvailability},
		{booking.Precondition(booking.ReasonPriceChanged, "x"), codes.FailedPrecondition, "", booking.ReasonPriceChanged},
		{booking.ErrNotFound, codes.NotFound, "", ""},
		{fmt.Errorf("get: %w", booking.ErrNotFound), codes.NotFound, "", ""},
		{booking.ErrPermissionDenied, codes.PermissionDenied, "", ""},
		{booking.ErrUnauthenticated, codes.Unauthenticated, "", ""},
		{booking.ErrAlreadyExists, codes.AlreadyExists, "", ""},
		{errors.Join(booking.ErrConflict, plain), codes.Aborted, "", ""},
		{fmt.Errorf("fare: %w", booking.ErrUnavailable), codes.Unavailable, "", ""},
		{context.DeadlineExceeded, codes.DeadlineExceeded, "", ""},
		{context.Canceled, codes.Canceled, "", ""},
	}
	for _, tc := range tests {
		st := status.Convert(toStatus(tc.err))
		if st.Code() != tc.code {
			t.Errorf("toStatus(%v) = %v, want %v", tc.err, st.Code(), tc.code)
			continue
		}
		var field, reason string
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.BadRequest:
				field = d.GetFieldViolations()[0].GetField()
			case *errdetails.ErrorInfo:
				reason = d.GetReason()
			}
		}
		if field != tc.field || reason != tc.reason {
			t.Errorf("toStatus(%v) details field %q reason %q, want %q %q", tc.err, field, reason, tc.field, tc.reason)
		}
	}
	// Unknown errors are left for the server's interceptor to log and mask as INTERNAL.
	if got := toStatus(plain); got != plain {
		t.Errorf("toStatus(plain) = %v, want it unchanged", got)
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) != nil")
	}
}
