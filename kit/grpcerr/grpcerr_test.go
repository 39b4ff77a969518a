package grpcerr_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/kit/pgxutil"
)

// TestDatabaseErrorsReachCallersAsTheirCodes follows each class of database error
// through both translations, storage → domain (pgxutil.MapError) and domain → gRPC
// (ToStatus): none may reach a caller as INTERNAL or UNKNOWN.
func TestDatabaseErrorsReachCallersAsTheirCodes(t *testing.T) {
	pg := func(code string) error {
		return fmt.Errorf("insert bill: %w", &pgconn.PgError{Code: code, Message: "from postgres", ColumnName: "currency_code"})
	}
	for _, tc := range []struct {
		name string
		err  error
		want codes.Code
	}{
		{"no rows", fmt.Errorf("get bill: %w", pgx.ErrNoRows), codes.NotFound},
		{"unique violation 23505", pg("23505"), codes.AlreadyExists},
		{"exclusion violation 23P01", pg("23P01"), codes.AlreadyExists},
		{"foreign key violation 23503", pg("23503"), codes.FailedPrecondition},
		{"not null violation 23502", pg("23502"), codes.InvalidArgument},
		{"check violation 23514", pg("23514"), codes.InvalidArgument},
		{"string too long 22001", pg("22001"), codes.InvalidArgument},
		{"numeric out of range 22003", pg("22003"), codes.InvalidArgument},
		{"invalid text representation 22P02", pg("22P02"), codes.InvalidArgument},
		{"serialization failure 40001", pg("40001"), codes.Aborted},
		{"deadlock 40P01", pg("40P01"), codes.Aborted},
		{"admin shutdown 57P01", pg("57P01"), codes.Unavailable},
		{"crash shutdown 57P02", pg("57P02"), codes.Unavailable},
		{"cannot connect now 57P03", pg("57P03"), codes.Unavailable},
		{"connection failure 08006", pg("08006"), codes.Unavailable},
		{"too many connections 53300", pg("53300"), codes.Unavailable},
		{"connection refused", fmt.Errorf("acquire: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), codes.Unavailable},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"canceled", fmt.Errorf("query: %w", context.Canceled), codes.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := status.Code(grpcerr.ToStatus(pgxutil.MapError(tc.err), "test.waybill.dev"))
			if got != tc.want {
				t.Errorf("code %v, want %v", got, tc.want)
			}
		})
	}
	// An error nobody classified is left for the interceptor to mask as INTERNAL.
	unknown := pg("XX000")
	if got := grpcerr.ToStatus(pgxutil.MapError(unknown), "d"); got != unknown {
		t.Errorf("ToStatus(unknown) = %v, want it unchanged", got)
	}
}

func TestToStatusCarriesReasonAndFields(t *testing.T) {
	err := grpcerr.ToStatus(fmt.Errorf("create bill: %w", errs.Invalid("currency_code", "must be an active ISO 4217 code")), "billing.waybill.dev")
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %v", st.Code())
	}
	var info *errdetails.ErrorInfo
	var br *errdetails.BadRequest
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			br = d
		}
	}
	if info.GetReason() != "INVALID_ARGUMENT" || info.GetDomain() != "billing.waybill.dev" {
		t.Errorf("ErrorInfo %v", info)
	}
	if len(br.GetFieldViolations()) != 1 || br.GetFieldViolations()[0].GetField() != "currency_code" {
		t.Errorf("BadRequest %v", br)
	}

	pre := errs.Precondition("HOLD_EXPIRED", "the hold expired at 10:00").WithMetadata("reservation_id", "r1").WithCause(errors.New("secret detail"))
	st = status.Convert(grpcerr.ToStatus(pre, "booking.waybill.dev"))
	if st.Code() != codes.FailedPrecondition || st.Message() != "the hold expired at 10:00" {
		t.Errorf("status %v: the cause must not reach the caller", st)
	}

	// Round trip through a client: the same kind, reason, fields and metadata.
	back := grpcerr.FromStatus(st.Err())
	e, ok := errs.As(back)
	if !ok || e.Kind != errs.FailedPrecondition || e.Reason != "HOLD_EXPIRED" || e.Metadata["reservation_id"] != "r1" {
		t.Errorf("FromStatus = %#v", back)
	}
	if !errors.Is(back, pre) {
		t.Error("errors.Is(FromStatus(ToStatus(e)), e) is false")
	}
	inv := grpcerr.FromStatus(err)
	if e, _ := errs.As(inv); e == nil || len(e.Fields) != 1 || e.Fields[0].Field != "currency_code" {
		t.Errorf("FromStatus lost the fields: %#v", inv)
	}
	// A callee's internal failure is our dependency failing, not a bug of ours.
	if got := errs.KindOf(grpcerr.FromStatus(status.Error(codes.Internal, "boom"))); got != errs.Unavailable {
		t.Errorf("FromStatus(Internal) kind %v, want UNAVAILABLE", got)
	}
	// An adapter's re-kinded error wins over the callee's status in its cause.
	notPriced := errs.Precondition("NOT_PRICED", "no rate card prices this").WithCause(grpcerr.FromStatus(status.Error(codes.NotFound, "rate card not found")))
	if st := status.Convert(grpcerr.ToStatus(fmt.Errorf("hold: %w", notPriced), "booking.waybill.dev")); st.Code() != codes.FailedPrecondition {
		t.Errorf("re-kinded callee error answered %v, want FAILED_PRECONDITION", st.Code())
	}
	// A status passes through ToStatus unchanged.
	s := status.Error(codes.PermissionDenied, "no")
	if got := grpcerr.ToStatus(s, "d"); got != s {
		t.Errorf("ToStatus(status) = %v", got)
	}
}
