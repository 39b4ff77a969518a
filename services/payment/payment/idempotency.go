package payment

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"strconv"
)

// Encode turns the first response of an idempotent call (its value, or the error it ended
// with) into the bytes stored with the key and replayed, byte for byte, for retries. The
// transport supplies it, since the bytes are its response message.
type Encode[T any] func(v T, err error) ([]byte, error)

// Reply is what an idempotent call returns: this execution's Value, or, for a retry of a
// completed call, Replay, the stored bytes of the first response.
type Reply[T any] struct {
	// Value is the result of this execution; zero when Replay is set.
	Value T
	// Replay is the stored first response.
	Replay []byte
}

// The RPC methods idempotency keys are scoped to.
const (
	methodCreateMethod = "CreatePaymentMethod"
	methodAuthorize    = "AuthorizePayment"
	methodCapture      = "CapturePayment"
	methodVoid         = "VoidPayment"
	methodRefund       = "RefundPayment"
)

func errRequestIDReused() error {
	return &FieldError{Field: "request_id", Reason: ReasonRequestIDReused,
		Description: "this request_id was used with different parameters; use a new request_id for a new request"}
}

// validateRequestID checks an idempotency key: 1 to 128 printable ASCII characters.
func validateRequestID(id string, required bool) error {
	if id == "" {
		if required {
			return invalid("request_id", "is required")
		}
		return nil
	}
	if len(id) > 128 {
		return invalid("request_id", "must be at most 128 characters")
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return invalid("request_id", "must be printable ASCII")
		}
	}
	return nil
}

// requestHasher builds the keyed hash of a request's parameters: the card data of
// CreatePaymentMethod is kept only as this hash.
type requestHasher struct{ h hash.Hash }

func (s *Service) hasher(method string) *requestHasher {
	r := &requestHasher{h: hmac.New(sha256.New, s.opts.HashKey)}
	return r.str(method)
}

func (r *requestHasher) str(v string) *requestHasher {
	r.h.Write([]byte(strconv.Itoa(len(v)) + ":" + v + ";"))
	return r
}

func (r *requestHasher) num(v int64) *requestHasher { return r.str(strconv.FormatInt(v, 10)) }

func (r *requestHasher) sum() []byte { return r.h.Sum(nil) }

// claim is an attempt's hold on an idempotency key.
type claim struct {
	key Key
	// recovered is true when the attempt took over a key whose earlier attempt ran out of
	// lease: that attempt may have called the processor.
	recovered bool
	// replay, when set, is the completed key to answer from; key is unset then.
	replay *Key
}

// keyless reports whether the claim has no idempotency key: operations the service starts
// itself (expiry voids) record no response.
func (c claim) keyless() bool { return c.key.Key == "" }

// claimKey inserts the idempotency key (method, requestID) in flight, or finds what an earlier
// call with it did: a completed key is returned for replay, a different hash is rejected, an
// in-flight key within its lease is ABORTED, and one past its lease is taken over.
func (s *Service) claimKey(ctx context.Context, method, requestID string, hash []byte, resourceID, opID string) (claim, error) {
	now := s.now()
	k := Key{Method: method, Key: requestID, Hash: hash, LockID: NewID(), LockedAt: now, CreateTime: now,
		ResourceID: resourceID, OperationID: opID}
	existing, err := s.store.InsertKey(ctx, k, now.Add(-s.opts.KeyTTL))
	if err != nil {
		return claim{}, fmt.Errorf("insert idempotency key: %w", err)
	}
	if existing == nil {
		return claim{key: k}, nil
	}
	if !hmac.Equal(existing.Hash, hash) {
		return claim{}, errRequestIDReused()
	}
	if existing.Completed {
		return claim{replay: existing}, nil
	}
	if existing.LockedAt.After(now.Add(-s.opts.Lease)) {
		return claim{}, errInProgress()
	}
	lock := NewID()
	ok, err := s.store.TakeOverKey(ctx, method, requestID, existing.LockID, lock, now)
	if err != nil {
		return claim{}, fmt.Errorf("take over idempotency key: %w", err)
	}
	if !ok {
		return claim{}, errInProgress()
	}
	k = *existing
	k.LockID, k.LockedAt = lock, now
	s.log.Info("took over an idempotency key past its lease", "method", method, "operation_id", k.OperationID)
	return claim{key: k, recovered: true}, nil
}

// abandon gives up a claim without recording anything: a fresh key is deleted, so a retry
// executes normally; a taken-over key keeps its ids (its first attempt may have reached the
// processor) and becomes available to the next attempt at once.
func (s *Service) abandon(ctx context.Context, c claim) {
	if c.keyless() {
		return
	}
	cctx, cancel := commitContext(ctx)
	defer cancel()
	var err error
	if c.recovered {
		err = s.store.ExpireKeyLease(cctx, c.key.Method, c.key.Key, c.key.LockID)
	} else {
		err = s.store.DeleteKey(cctx, c.key.Method, c.key.Key, c.key.LockID)
	}
	if err != nil {
		s.log.Warn("release idempotency key", "method", c.key.Method, "error", err)
	}
}

// recordError stores cause as the key's response and returns cause: the error is replayed for
// retries with the key.
func recordError[T any](ctx context.Context, s *Service, c claim, enc Encode[T], cause error) error {
	if c.keyless() {
		return cause
	}
	var zero T
	body, err := enc(zero, cause)
	if err != nil {
		s.abandon(ctx, c)
		return fmt.Errorf("encode response: %w", err)
	}
	k := c.key
	k.Response, k.Completed = body, true
	cctx, cancel := commitContext(ctx)
	defer cancel()
	if err := s.store.InTx(cctx, func(tx Tx) error { return tx.CompleteKey(cctx, k) }); err != nil {
		if errors.Is(err, ErrKeyLost) {
			return errInProgress()
		}
		return fmt.Errorf("record response: %w", err)
	}
	return cause
}

// recordable reports whether an error raised after execution began is stored with the key:
// client mistakes, permission problems, conflicts and unreachable processors are not, so a
// retry executes normally.
func recordable(err error) bool {
	var fe *FieldError
	var ae *AbortedError
	switch {
	case errors.As(err, &fe), errors.As(err, &ae), errors.Is(err, ErrUnavailable), errors.Is(err, ErrConflict):
		return false
	}
	var pe *PreconditionError
	if errors.As(err, &pe) {
		// A pending payment is a passing state: a retry after reconciliation may succeed.
		return pe.Reason != ReasonPaymentPending
	}
	return errors.Is(err, ErrNotFound)
}
