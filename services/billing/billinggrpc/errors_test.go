package billinggrpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/services/billing/billing"
)

func TestToStatus(t *testing.T) {
	reason := func(kind error, r string) error { return &billing.ReasonError{Kind: kind, Reason: r, Message: "m"} }
	tests := []struct {
		err    error
		code   codes.Code
		reason string
	}{
		{billing.Invalid("bill_id", "required"), codes.InvalidArgument, "INVALID_ARGUMENT"},
		{fmt.Errorf("wrapped: %w", billing.Invalid("kind", "x")), codes.InvalidArgument, "INVALID_ARGUMENT"},
		{reason(billing.ErrNotFound, billing.ReasonBillNotFound), codes.NotFound, billing.ReasonBillNotFound},
		{reason(billing.ErrAlreadyExists, billing.ReasonAlreadyBilled), codes.AlreadyExists, billing.ReasonAlreadyBilled},
		{reason(billing.ErrFailedPrecondition, billing.ReasonBillNotOpen), codes.FailedPrecondition, billing.ReasonBillNotOpen},
		{reason(billing.ErrStaleVersion, billing.ReasonVersionMismatch), codes.Aborted, billing.ReasonVersionMismatch},
		{fmt.Errorf("x: %w", billing.ErrConflict), codes.Aborted, billing.ReasonConflict},
		{reason(billing.ErrPermissionDenied, billing.ReasonPermissionDenied), codes.PermissionDenied, billing.ReasonPermissionDenied},
		{reason(billing.ErrUnavailable, billing.ReasonProviderUnavailable), codes.Unavailable, billing.ReasonProviderUnavailable},
		{context.DeadlineExceeded, codes.DeadlineExceeded, ""},
		{context.Canceled, codes.Canceled, ""},
		{status.Error(codes.Unauthenticated, "no token"), codes.Unauthenticated, ""},
		{errors.New("disk on fire"), codes.Unknown, ""}, // left for the server's interceptor to mask as INTERNAL
	}
	for _, tt := range tests {
		got := toStatus(tt.err)
		st := status.Convert(got)
		if st.Code() != tt.code {
			t.Errorf("toStatus(%v) = %v, want %v", tt.err, st.Code(), tt.code)
			continue
		}
		var gotReason string
		var field string
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				gotReason = d.GetReason()
			case *errdetails.BadRequest:
				field = d.GetFieldViolations()[0].GetField()
			}
		}
		if gotReason != tt.reason {
			t.Errorf("toStatus(%v) reason %q, want %q", tt.err, gotReason, tt.reason)
		}
		if tt.code == codes.InvalidArgument && field == "" {
			t.Errorf("toStatus(%v) names no field", tt.err)
		}
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) != nil")
	}
}
