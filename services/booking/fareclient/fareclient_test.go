package fareclient

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/services/booking/booking"
)

func TestMapError(t *testing.T) {
	tests := []struct {
		code codes.Code
		want error
	}{
		{codes.NotFound, booking.ErrFailedPrecondition},
		{codes.Unavailable, booking.ErrUnavailable},
		{codes.DeadlineExceeded, booking.ErrUnavailable},
		{codes.ResourceExhausted, booking.ErrUnavailable},
		{codes.Canceled, context.Canceled},
	}
	for _, tc := range tests {
		if got := mapError(status.Error(tc.code, "x")); !errors.Is(got, tc.want) {
			t.Errorf("mapError(%s) = %v, want %v", tc.code, got, tc.want)
		}
	}
	// Fare rejecting booking's request is not booking's caller's fault.
	got := mapError(status.Error(codes.InvalidArgument, "bad"))
	for _, not := range []error{booking.ErrInvalid, booking.ErrFailedPrecondition, booking.ErrUnavailable, booking.ErrNotFound} {
		if errors.Is(got, not) {
			t.Errorf("mapError(InvalidArgument) = %v, is %v", got, not)
		}
	}
	var pe *booking.PreconditionError
	if !errors.As(mapError(status.Error(codes.NotFound, "x")), &pe) || pe.Reason != booking.ReasonNotPriced {
		t.Errorf("NotFound does not carry reason %s", booking.ReasonNotPriced)
	}
}
