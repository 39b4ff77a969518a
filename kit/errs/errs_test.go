package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/waybill/waybill/kit/errs"
)

func TestIsMatchesKindAndReason(t *testing.T) {
	expired := errs.Precondition("HOLD_EXPIRED", "the hold expired")
	err := fmt.Errorf("confirm: %w", expired.WithCause(errors.New("row")))
	for _, tc := range []struct {
		target error
		want   bool
	}{
		{errs.FailedPrecondition, true},
		{errs.NotFound, false},
		{expired, true},
		{errs.Precondition("NOT_ON_SALE", "x"), false},
		{errs.Precondition("", "x"), false},
	} {
		if got := errors.Is(err, tc.target); got != tc.want {
			t.Errorf("errors.Is(err, %v) = %v, want %v", tc.target, got, tc.want)
		}
	}
	if errs.KindOf(err) != errs.FailedPrecondition || errs.KindOf(errors.New("x")) != errs.Unknown {
		t.Error("KindOf")
	}
	if errs.KindOf(fmt.Errorf("w: %w", errs.NotFound)) != errs.NotFound {
		t.Error("KindOf of a wrapped Kind")
	}
}

func TestViolations(t *testing.T) {
	var v errs.Violations
	if v.Err() != nil {
		t.Fatal("no violations, want nil")
	}
	v.Check(true, "a", "fine")
	v.Check(false, "b", "must be positive")
	v.Add("c", "is required")
	e, ok := errs.As(v.Err())
	if !ok || e.Kind != errs.InvalidArgument || len(e.Fields) != 2 || e.Fields[0].Field != "b" || e.Fields[1].Field != "c" {
		t.Fatalf("Err() = %#v", v.Err())
	}
	if e.Message != "invalid argument: b: must be positive; c: is required" {
		t.Errorf("message %q", e.Message)
	}
}

func TestNotSettable(t *testing.T) {
	err := fmt.Errorf("create bill: %w", errs.NotSettable("sub_status", "only operators and services may set it"))
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.PermissionDenied || e.Reason != errs.ReasonFieldNotSettable || e.Metadata["field"] != "sub_status" {
		t.Fatalf("NotSettable = %#v, want PermissionDenied FIELD_NOT_SETTABLE with field sub_status", e)
	}
	if want := "sub_status: only operators and services may set it"; e.Message != want {
		t.Errorf("message = %q, want %q", e.Message, want)
	}
	if !errors.Is(err, errs.PermissionDenied) {
		t.Error("errors.Is(err, PermissionDenied) = false")
	}
}
