// Package grpcerr translates between kit/errs errors and gRPC statuses, once per
// boundary: ToStatus for what a server answers (kit/grpcserver calls it for every
// handler's error), FromStatus for what a client receives from another service.
package grpcerr

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/waybill/waybill/kit/errs"
)

// codeOf maps each kind to its code; Unknown is absent (masked as INTERNAL).
var codeOf = map[errs.Kind]codes.Code{
	errs.InvalidArgument:    codes.InvalidArgument,
	errs.NotFound:           codes.NotFound,
	errs.AlreadyExists:      codes.AlreadyExists,
	errs.FailedPrecondition: codes.FailedPrecondition,
	errs.Aborted:            codes.Aborted,
	errs.PermissionDenied:   codes.PermissionDenied,
	errs.Unauthenticated:    codes.Unauthenticated,
	errs.Unavailable:        codes.Unavailable,
	errs.ResourceExhausted:  codes.ResourceExhausted,
}

// Domain returns the ErrorInfo domain of a service's errors, "<service>.waybill.dev".
func Domain(service string) string { return service + ".waybill.dev" }

// ToStatus returns the gRPC status error the caller sees for err. An *errs.Error (or a
// bare errs.Kind) becomes its code with an ErrorInfo carrying the reason and domain and,
// for InvalidArgument, a BadRequest naming the fields, even when a status is its cause;
// a status passes through; context errors become DeadlineExceeded or Canceled. Anything
// else is returned unchanged, for the server's interceptor to log and mask as INTERNAL.
func ToStatus(err error, domain string) error {
	if err == nil {
		return nil
	}
	// The outermost kit error decides: an adapter's *errs.Error whose cause is a
	// callee's status (grpcerr.FromStatus) is answered as the adapter re-kinded it.
	if e, ok := errs.As(err); ok && e.Kind != errs.Unknown {
		return build(e, domain)
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if k := errs.KindOf(err); k != errs.Unknown {
		return build(&errs.Error{Kind: k, Message: k.Error()}, domain)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	}
	return err
}

func build(e *errs.Error, domain string) error {
	code := codeOf[e.Kind]
	st := status.New(code, e.Message)
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: e.ReasonOrKind(), Domain: domain, Metadata: e.Metadata}}
	if len(e.Fields) > 0 {
		br := &errdetails.BadRequest{}
		for _, f := range e.Fields {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f.Field, Description: f.Description})
		}
		details = append(details, br)
	}
	if d, err := st.WithDetails(details...); err == nil {
		st = d
	}
	return st.Err()
}

// FromStatus turns a status error received from another service into an *errs.Error of
// the matching kind, reason, message, fields and metadata, with err as its cause. Codes
// without a kind (Internal, Unknown, DataLoss, Unimplemented) and DeadlineExceeded
// become Unavailable, reason "DEPENDENCY_FAILED": the dependency, not our caller, failed.
// Context errors and errors that are not statuses are returned unchanged. An outbound
// adapter calls it once and then decides what the callee's errors mean to its own
// service (a callee's InvalidArgument is seldom our caller's fault).
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if st.Code() == codes.Canceled {
		return context.Canceled
	}
	kind := errs.Unavailable
	for k, c := range codeOf {
		if c == st.Code() {
			kind = k
		}
	}
	e := &errs.Error{Kind: kind, Message: st.Message(), Err: err}
	if kind == errs.Unavailable && st.Code() != codes.Unavailable {
		e.Reason = "DEPENDENCY_FAILED"
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if e.Reason == "" {
				e.Reason = d.GetReason()
			}
			if len(d.GetMetadata()) > 0 {
				e.Metadata = d.GetMetadata()
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Fields = append(e.Fields, errs.FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return e
}
