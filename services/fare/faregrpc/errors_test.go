package faregrpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/services/fare/fare"
)

func TestToStatus(t *testing.T) {
	plain := errors.New("connection reset")
	for _, tc := range []struct {
		name  string
		err   error
		code  codes.Code
		field string
	}{
		{"field error", fare.Invalid("rate_card.currency_code", "bad"), codes.InvalidArgument, "rate_card.currency_code"},
		{"wrapped field error", fmt.Errorf("create: %w", fare.Invalid("quantity", "bad")), codes.InvalidArgument, "quantity"},
		{"not found", fmt.Errorf("get: %w", fare.ErrNotFound), codes.NotFound, ""},
		{"already exists", fmt.Errorf("create: %w", fare.ErrAlreadyExists), codes.AlreadyExists, ""},
		{"stale version", fmt.Errorf("update: %w", fare.ErrStaleVersion), codes.Aborted, ""},
		{"conflict", fmt.Errorf("update: %w", fare.ErrConflict), codes.Aborted, ""},
		{"permission", fare.ErrPermissionDenied, codes.PermissionDenied, ""},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded, ""},
		{"canceled", fmt.Errorf("query: %w", context.Canceled), codes.Canceled, ""},
		{"status passes", status.Error(codes.Unauthenticated, "no token"), codes.Unauthenticated, ""},
		// Left for the server's interceptor to log and mask as INTERNAL.
		{"unknown", plain, codes.Unknown, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := toStatus(tc.err)
			if tc.name == "unknown" {
				if got != plain {
					t.Fatalf("toStatus(unknown) = %v, want it unchanged", got)
				}
				return
			}
			st := status.Convert(got)
			if st.Code() != tc.code {
				t.Fatalf("code = %v, want %v", st.Code(), tc.code)
			}
			if tc.field == "" {
				return
			}
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 && br.GetFieldViolations()[0].GetField() == tc.field {
					return
				}
			}
			t.Fatalf("details %v do not name %s", st.Details(), tc.field)
		})
	}
	if toStatus(nil) != nil {
		t.Fatal("toStatus(nil) != nil")
	}
}
