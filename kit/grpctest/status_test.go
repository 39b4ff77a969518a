package grpctest_test

import (
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/kit/grpctest"
)

// withDetails returns a status error of code carrying details.
func withDetails(t *testing.T, code codes.Code, details ...*errdetails.ErrorInfo) error {
	t.Helper()
	st := status.New(code, "m")
	for _, d := range details {
		var err error
		if st, err = st.WithDetails(d); err != nil {
			t.Fatal(err)
		}
	}
	return st.Err()
}

// invalid returns an INVALID_ARGUMENT error whose BadRequest names fields.
func invalid(t *testing.T, fields ...string) error {
	t.Helper()
	br := &errdetails.BadRequest{}
	for _, f := range fields {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f, Description: "bad"})
	}
	st, err := status.New(codes.InvalidArgument, "invalid").WithDetails(br)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestWantCode(t *testing.T) {
	notFound := status.Error(codes.NotFound, "gone")
	wantPass(t, "the code", func(tb testing.TB) { grpctest.WantCode(tb, notFound, codes.NotFound) })
	wantPass(t, "an alternative", func(tb testing.TB) {
		grpctest.WantCode(tb, notFound, codes.Aborted, codes.NotFound)
	})
	wantPass(t, "OK for nil", func(tb testing.TB) { grpctest.WantCode(tb, nil, codes.OK) })
	wantFail(t, "another code", func(tb testing.TB) { grpctest.WantCode(tb, notFound, codes.Aborted) })
	wantFail(t, "none of the alternatives", func(tb testing.TB) {
		grpctest.WantCode(tb, notFound, codes.Aborted, codes.Internal)
	})
	wantFail(t, "nil for an error code", func(tb testing.TB) { grpctest.WantCode(tb, nil, codes.NotFound) })
	wantFail(t, "a plain error", func(tb testing.TB) { grpctest.WantCode(tb, errors.New("x"), codes.NotFound) })
	if st := grpctest.WantCode(t, notFound, codes.NotFound); st.Message() != "gone" {
		t.Errorf("WantCode returned %v, want the error's status", st)
	}
}

func TestWantReason(t *testing.T) {
	info := &errdetails.ErrorInfo{Reason: "BILL_NOT_OPEN", Domain: "billing.waybill.dev", Metadata: map[string]string{"k": "v"}}
	err := withDetails(t, codes.FailedPrecondition, info)
	wantPass(t, "the code and reason", func(tb testing.TB) {
		grpctest.WantReason(tb, err, codes.FailedPrecondition, "BILL_NOT_OPEN")
	})
	wantFail(t, "another reason", func(tb testing.TB) {
		grpctest.WantReason(tb, err, codes.FailedPrecondition, "BILL_EMPTY")
	})
	wantFail(t, "another code", func(tb testing.TB) {
		grpctest.WantReason(tb, err, codes.Aborted, "BILL_NOT_OPEN")
	})
	wantFail(t, "no ErrorInfo", func(tb testing.TB) {
		grpctest.WantReason(tb, status.Error(codes.FailedPrecondition, "m"), codes.FailedPrecondition, "BILL_NOT_OPEN")
	})
	// The domain is the service's own: not compared, but returned for a test to check.
	got := grpctest.WantReason(t, err, codes.FailedPrecondition, "BILL_NOT_OPEN")
	if got.GetDomain() != "billing.waybill.dev" || got.GetMetadata()["k"] != "v" {
		t.Errorf("WantReason returned %v, want the status's ErrorInfo", got)
	}
}

func TestWantField(t *testing.T) {
	err := invalid(t, "reservation.quantity", "reservation.travelers")
	wantPass(t, "the first field", func(tb testing.TB) { grpctest.WantField(tb, err, "reservation.quantity") })
	wantPass(t, "a later field", func(tb testing.TB) { grpctest.WantField(tb, err, "reservation.travelers") })
	wantFail(t, "a field not named", func(tb testing.TB) { grpctest.WantField(tb, err, "reservation") })
	wantFail(t, "no BadRequest", func(tb testing.TB) {
		grpctest.WantField(tb, status.Error(codes.InvalidArgument, "m"), "reservation.quantity")
	})
	wantFail(t, "another code", func(tb testing.TB) {
		st, _ := status.New(codes.FailedPrecondition, "m").WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "reservation.quantity"}}})
		grpctest.WantField(tb, st.Err(), "reservation.quantity")
	})
	if v := grpctest.WantField(t, err, "reservation.travelers"); v.GetDescription() != "bad" {
		t.Errorf("WantField returned %v, want the violation", v)
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{withDetails(t, codes.Aborted, &errdetails.ErrorInfo{Reason: "REQUEST_IN_PROGRESS"}), "REQUEST_IN_PROGRESS"},
		{status.Error(codes.Aborted, "m"), ""},
		{nil, ""},
		{errors.New("x"), ""},
	}
	for _, tt := range tests {
		if got := grpctest.Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
