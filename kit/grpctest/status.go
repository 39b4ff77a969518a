package grpctest

import (
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// WantCode fails the test unless err's gRPC code is code or one of or (a nil err has
// code OK). It returns err's status, for further checks.
func WantCode(t testing.TB, err error, code codes.Code, or ...codes.Code) *status.Status {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code && !slices.Contains(or, st.Code()) {
		t.Fatalf("code = %v (%v), want %v", st.Code(), err, append([]codes.Code{code}, or...))
	}
	return st
}

// WantReason fails the test unless err has code and its ErrorInfo has reason. It returns
// the ErrorInfo, whose domain and metadata a test may check too; the domain is each
// service's own and is not compared here.
func WantReason(t testing.TB, err error, code codes.Code, reason string) *errdetails.ErrorInfo {
	t.Helper()
	info := ErrorInfo(WantCode(t, err, code))
	if info == nil {
		t.Fatalf("%v has no ErrorInfo, want reason %s", err, reason)
	}
	if info.GetReason() != reason {
		t.Fatalf("reason = %s (%v), want %s", info.GetReason(), err, reason)
	}
	return info
}

// WantField fails the test unless err is INVALID_ARGUMENT with a BadRequest naming field
// (a snake_case request path such as "reservation.quantity") among its violations. It
// returns that violation.
func WantField(t testing.TB, err error, field string) *errdetails.BadRequest_FieldViolation {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %v (%v), want InvalidArgument naming %s", st.Code(), err, field)
	}
	var named []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return v
				}
				named = append(named, v.GetField())
			}
		}
	}
	t.Fatalf("fields = %q (%v), want %q", named, err, field)
	return nil
}

// ErrorInfo returns the ErrorInfo a status carries, or nil when it carries none.
func ErrorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// Reason returns the ErrorInfo reason of err's status, or "" when it has none: for
// tests that tally outcomes, or check them off the test's goroutine, rather than
// asserting one.
func Reason(err error) string { return ErrorInfo(status.Convert(err)).GetReason() }
