package paymentclient

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/billing/billing"
)

func withReason(code codes.Code, reason string) error {
	st, _ := status.New(code, "x").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "payment.waybill.dev"})
	return st.Err()
}

// TestMapError: what a retry with the same request id may fix is UNAVAILABLE; the
// payment service's INVALID_ARGUMENT never becomes billing's.
func TestMapError(t *testing.T) {
	for _, tc := range []struct {
		in         error
		want       error
		wantReason string
	}{
		{status.Error(codes.Unavailable, "x"), errs.Unavailable, billing.ReasonPaymentUnavailable},
		{status.Error(codes.DeadlineExceeded, "x"), errs.Unavailable, billing.ReasonPaymentUnavailable},
		{status.Error(codes.Internal, "x"), errs.Unavailable, billing.ReasonPaymentUnavailable},
		{withReason(codes.Aborted, "REQUEST_IN_PROGRESS"), errs.Unavailable, billing.ReasonPaymentUnavailable},
		{status.Error(codes.Canceled, "x"), context.Canceled, ""},
		{withReason(codes.NotFound, "PAYMENT_NOT_FOUND"), errs.NotFound, "PAYMENT_NOT_FOUND"},
		{withReason(codes.FailedPrecondition, "PAYMENT_NOT_CAPTURABLE"), errs.FailedPrecondition, "PAYMENT_NOT_CAPTURABLE"},
		{withReason(codes.InvalidArgument, "REQUEST_ID_REUSED"), ErrRefused, ReasonPaymentRefused},
		{status.Error(codes.PermissionDenied, "x"), ErrRefused, ReasonPaymentRefused},
	} {
		got := mapError("op", tc.in)
		if !errors.Is(got, tc.want) {
			t.Errorf("%v → %v, want %v", tc.in, got, tc.want)
		}
		if k := errs.KindOf(got); k == errs.InvalidArgument || k == errs.PermissionDenied {
			t.Errorf("%v became billing's %v", tc.in, k)
		}
		if e, ok := errs.As(got); tc.wantReason != "" && (!ok || e.Reason != tc.wantReason) {
			t.Errorf("%v → reason of %v, want %s", tc.in, got, tc.wantReason)
		}
	}
}
