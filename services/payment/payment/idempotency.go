package payment

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
)

// The methods idempotency keys are scoped to (with the caller's subject).
const (
	methodCreateMethod = "CreatePaymentMethod"
	methodAuthorize    = "AuthorizePayment"
	methodCapture      = "CapturePayment"
	methodVoid         = "VoidPayment"
	methodRefund       = "RefundPayment"
)

// key returns the idempotency key of a call by c with requestID and the given parameters.
// The parameters are kept only as a keyed hash (HMAC with Options.HashKey of
// idempotency.Fingerprint), since CreatePaymentMethod's are card data, which an unkeyed
// digest would not hide.
func (s *Service) key(method string, c caller.Caller, requestID string, params ...string) idempotency.Key {
	m := hmac.New(sha256.New, s.opts.HashKey)
	m.Write(idempotency.Fingerprint(params...))
	return idempotency.Key{Method: method, Subject: c.Subject, RequestID: requestID, Hash: m.Sum(nil)}
}

// memo is what the first attempt with a key chose, stored with the key (Lease.Memo) so that
// an attempt that takes the key over, or a replay that must reconcile, continues with it.
type memo struct {
	// ResourceID is the payment (or payment method) the call creates or changes.
	ResourceID string `json:"r"`
	// OperationID is the operation sent to the processor under this id.
	OperationID string `json:"o,omitempty"`
}

// claim is an attempt's hold on its idempotency key (kit/idempotency's lease, a plain value
// the store hands out and takes back), with the ids of the first attempt.
type claim struct {
	idempotency.Lease
	memo
	// keyless is true for a call without a request id (CreatePaymentMethod without one, the
	// service's own expiry voids): nothing is claimed or recorded.
	keyless bool
}

// acquire claims k with a lease, storing m as its memo; a take-over or replay gets the
// first attempt's memo instead. A key without a request id claims nothing (kit/idempotency
// does no I/O for it): the claim is keyless.
func (s *Service) acquire(ctx context.Context, k idempotency.Key, m memo) (claim, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return claim{}, fmt.Errorf("encode idempotency memo: %w", err)
	}
	c, err := s.store.AcquireKey(ctx, k, b)
	if err != nil {
		return claim{}, err
	}
	if c.Recovered || c.Replayed {
		if err := json.Unmarshal(c.Memo, &m); err != nil {
			return claim{}, fmt.Errorf("decode idempotency memo of %s %q: %w", k.Method, k.RequestID, err)
		}
	}
	if c.Recovered {
		s.log.Info("took over an idempotency key past its lease", "method", k.Method, "operation_id", m.OperationID)
	}
	return claim{Lease: c, memo: m, keyless: k.RequestID == ""}, nil
}

// abandon gives up a claim without recording anything: a fresh key is deleted, so a retry
// executes normally; a taken-over key keeps its memo (its first attempt may have reached the
// processor) and becomes available to the next attempt at once.
func (s *Service) abandon(ctx context.Context, c claim) {
	if c.keyless {
		return
	}
	if err := s.store.AbandonKey(ctx, c.Lease); err != nil {
		s.log.Warn("release idempotency key", "key", c.Lease, "error", err)
	}
}

// result is what a key stores for retries to replay: the first call's value, or the error it
// ended with, as JSON of the domain's own types.
type result[T any] struct {
	Value *T           `json:"value,omitempty"`
	Error *storedError `json:"error,omitempty"`
}

// storedError is a recorded *errs.Error without its cause, which callers never see. The
// kind is stored by name ("FAILED_PRECONDITION"), which outlives a reordering of the kinds.
type storedError struct {
	Kind     string                `json:"kind"`
	Reason   string                `json:"reason,omitempty"`
	Message  string                `json:"message"`
	Fields   []errs.FieldViolation `json:"fields,omitempty"`
	Metadata map[string]string     `json:"metadata,omitempty"`
}

// encodeValue returns the stored form of a call's value.
func encodeValue[T any](v T) ([]byte, error) {
	b, err := json.Marshal(result[T]{Value: &v})
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return b, nil
}

// encodeError returns the stored form of the domain error a call ended with.
func encodeError(err error) ([]byte, error) {
	e, ok := errs.As(err)
	if !ok {
		return nil, fmt.Errorf("encode result: %w is not a domain error", err)
	}
	b, err := json.Marshal(result[struct{}]{Error: &storedError{Kind: e.Kind.String(), Reason: e.Reason, Message: e.Message,
		Fields: e.Fields, Metadata: e.Metadata}})
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return b, nil
}

// decodeResult returns the value stored by encodeValue, or the error stored by encodeError:
// what the first call answered.
func decodeResult[T any](b []byte) (T, error) {
	var zero T
	var r result[T]
	if err := json.Unmarshal(b, &r); err != nil {
		return zero, fmt.Errorf("decode stored result: %w", err)
	}
	switch {
	case r.Error != nil:
		e := r.Error
		return zero, &errs.Error{Kind: kindNamed(e.Kind), Reason: e.Reason, Message: e.Message, Fields: e.Fields, Metadata: e.Metadata}
	case r.Value == nil:
		return zero, errors.New("decode stored result: neither value nor error")
	}
	return *r.Value, nil
}

// kindNamed returns the kind whose String is name; errs.Unknown (INTERNAL to callers) for a
// name it does not know.
func kindNamed(name string) errs.Kind {
	for k := errs.Unknown; k < 255; k++ {
		if k.String() == name {
			return k
		}
	}
	return errs.Unknown
}

// recordError stores cause as the key's result and returns cause: the error is replayed for
// retries with the key.
func (s *Service) recordError(ctx context.Context, c claim, cause error) error {
	if c.keyless {
		return cause
	}
	body, err := encodeError(cause)
	if err != nil {
		s.abandon(ctx, c)
		return err
	}
	cctx, cancel := commitContext(ctx)
	defer cancel()
	if err := s.store.CompleteKey(cctx, c.Lease, body); err != nil {
		return fmt.Errorf("record the error as the request's result: %w", err)
	}
	return cause
}

// recordable reports whether an error raised after execution began is stored with the key:
// client mistakes, permission problems, conflicts and unreachable dependencies are not, so a
// retry executes normally.
func recordable(err error) bool {
	e, ok := errs.As(err)
	if !ok {
		return false
	}
	switch e.Kind {
	case errs.NotFound:
		return true
	case errs.FailedPrecondition:
		// A pending payment is a passing state: a retry after reconciliation may succeed.
		return e.Reason != ReasonPaymentPending
	}
	return false
}
