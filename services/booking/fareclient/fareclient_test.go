package fareclient

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/booking/booking"
)

func TestMapError(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		code   codes.Code
		kind   errs.Kind
		reason string
	}{
		{codes.NotFound, errs.FailedPrecondition, booking.ReasonNotPriced},
		{codes.Unavailable, errs.Unavailable, booking.ReasonFareUnavailable},
		{codes.DeadlineExceeded, errs.Unavailable, booking.ReasonFareUnavailable},
		{codes.ResourceExhausted, errs.Unavailable, booking.ReasonFareUnavailable},
		{codes.Aborted, errs.Unavailable, booking.ReasonFareUnavailable},
		{codes.Internal, errs.Unavailable, booking.ReasonFareUnavailable},
	}
	for _, tc := range tests {
		got := mapError(ctx, "QuoteInventory", status.Error(tc.code, "x"))
		if e, ok := errs.As(got); !ok || e.Kind != tc.kind || e.Reason != tc.reason {
			t.Errorf("mapError(%s) = %v, want %v %s", tc.code, got, tc.kind, tc.reason)
		}
	}
	if got := mapError(ctx, "QuoteInventory", status.Error(codes.Canceled, "x")); !errors.Is(got, context.Canceled) {
		t.Errorf("mapError(Canceled) = %v, want context.Canceled", got)
	}
	// The caller's own context ending is the caller's, not fare's.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if got := mapError(done, "QuoteInventory", status.Error(codes.Canceled, "x")); !errors.Is(got, context.Canceled) || errs.KindOf(got) != errs.Unknown {
		t.Errorf("mapError after the caller cancelled = %v, want context.Canceled", got)
	}
	// Fare rejecting booking's request is not booking's caller's fault: no kind, so the
	// transport answers INTERNAL.
	for _, code := range []codes.Code{codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied, codes.Unauthenticated} {
		if got := mapError(ctx, "QuoteInventory", status.Error(code, "bad")); errs.KindOf(got) != errs.Unknown {
			t.Errorf("mapError(%s) = %v of kind %v, want no kind", code, got, errs.KindOf(got))
		}
	}
}

// TestMappedErrorsCarryNoStatus: the transport answers with a status found anywhere in an
// error's chain, so fare's status must not travel as the cause of booking's error.
func TestMappedErrorsCarryNoStatus(t *testing.T) {
	for _, code := range []codes.Code{codes.NotFound, codes.Unavailable, codes.InvalidArgument} {
		got := mapError(context.Background(), "QuoteInventory", status.Error(code, "x"))
		if _, ok := status.FromError(got); ok {
			t.Errorf("mapError(%s) = %v carries a status", code, got)
		}
	}
}
