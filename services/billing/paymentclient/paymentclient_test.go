package paymentclient

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/services/billing/billing"
)

func withReason(code codes.Code, reason string) error {
	st, _ := status.New(code, "x").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "payment.waybill.dev"})
	return st.Err()
}

// TestMapError: what a retry with the same request id may fix is ErrUnavailable; the
// payment service's INVALID_ARGUMENT never becomes billing's.
func TestMapError(t *testing.T) {
	for _, tc := range []struct {
		in         error
		want       error
		wantReason string
	}{
		{status.Error(codes.Unavailable, "x"), billing.ErrUnavailable, ""},
		{status.Error(codes.DeadlineExceeded, "x"), billing.ErrUnavailable, ""},
		{withReason(codes.Aborted, "REQUEST_IN_PROGRESS"), billing.ErrUnavailable, ""},
		{status.Error(codes.Canceled, "x"), context.Canceled, ""},
		{withReason(codes.NotFound, "PAYMENT_NOT_FOUND"), billing.ErrNotFound, "PAYMENT_NOT_FOUND"},
		{withReason(codes.FailedPrecondition, "PAYMENT_NOT_CAPTURABLE"), billing.ErrFailedPrecondition, "PAYMENT_NOT_CAPTURABLE"},
		{withReason(codes.InvalidArgument, "REQUEST_ID_REUSED"), errRefused, ""},
		{status.Error(codes.PermissionDenied, "x"), errRefused, ""},
	} {
		got := mapError("op", tc.in)
		if !errors.Is(got, tc.want) {
			t.Errorf("%v → %v, want %v", tc.in, got, tc.want)
		}
		var fe *billing.FieldError
		if errors.As(got, &fe) {
			t.Errorf("%v became a field error", tc.in)
		}
		var re *billing.ReasonError
		if tc.wantReason != "" && (!errors.As(got, &re) || re.Reason != tc.wantReason) {
			t.Errorf("%v → reason of %v, want %s", tc.in, got, tc.wantReason)
		}
	}
}
