package paymentgrpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/services/payment/payment"
)

func TestToStatus(t *testing.T) {
	plain := errors.New("database exploded")
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
		field  string
	}{
		{"field", &payment.FieldError{Field: "amount.currency_code", Description: "bad"}, codes.InvalidArgument, "INVALID_ARGUMENT", "amount.currency_code"},
		{"reused key", fmt.Errorf("wrapped: %w", &payment.FieldError{Field: "request_id", Reason: payment.ReasonRequestIDReused}), codes.InvalidArgument, "REQUEST_ID_REUSED", "request_id"},
		{"precondition", &payment.PreconditionError{Reason: payment.ReasonNotCapturable}, codes.FailedPrecondition, "PAYMENT_NOT_CAPTURABLE", ""},
		{"in progress", &payment.AbortedError{Reason: payment.ReasonRequestInProgress}, codes.Aborted, "REQUEST_IN_PROGRESS", ""},
		{"busy", &payment.AbortedError{Reason: payment.ReasonPaymentBusy}, codes.Aborted, "PAYMENT_BUSY", ""},
		{"not found", fmt.Errorf("get: %w", payment.ErrNotFound), codes.NotFound, "NOT_FOUND", ""},
		{"exists", payment.ErrAlreadyExists, codes.AlreadyExists, "SETTLEMENT_EXISTS", ""},
		{"unavailable", fmt.Errorf("%w: down", payment.ErrUnavailable), codes.Unavailable, "PROCESSOR_UNAVAILABLE", ""},
		{"conflict", payment.ErrConflict, codes.Aborted, "CONFLICT", ""},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "", ""},
		{"canceled", context.Canceled, codes.Canceled, "", ""},
		{"status passes", status.Error(codes.Unauthenticated, "who"), codes.Unauthenticated, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(toStatus(tt.err))
			if st.Code() != tt.code {
				t.Fatalf("code %s, want %s", st.Code(), tt.code)
			}
			var reason, field string
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					reason = d.GetReason()
					if d.GetDomain() != errorDomain {
						t.Errorf("domain %s", d.GetDomain())
					}
				case *errdetails.BadRequest:
					field = d.GetFieldViolations()[0].GetField()
				}
			}
			if reason != tt.reason || field != tt.field {
				t.Fatalf("reason %q field %q, want %q %q", reason, field, tt.reason, tt.field)
			}
		})
	}
	// Anything else stays as it is, for the server's interceptor to log and mask as INTERNAL.
	if toStatus(plain) != plain || toStatus(nil) != nil {
		t.Fatal("unknown errors must pass through unchanged")
	}
	// A decline code travels in the ErrorInfo metadata.
	st := status.Convert(toStatus(&payment.PreconditionError{Reason: payment.ReasonCardDeclined, DeclineCode: "card_declined"}))
	if info, ok := st.Details()[0].(*errdetails.ErrorInfo); !ok || info.GetMetadata()["decline_code"] != "card_declined" {
		t.Fatalf("decline code missing: %v", st.Details())
	}
}

func TestReplayRoundTrip(t *testing.T) {
	b, err := encodeReply(nil, &payment.PreconditionError{Reason: payment.ReasonMethodDisabled, Message: "disabled"})
	if err != nil {
		t.Fatal(err)
	}
	err = decodeReply(b, nil)
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != "disabled" {
		t.Fatalf("decoded %v", err)
	}
}
