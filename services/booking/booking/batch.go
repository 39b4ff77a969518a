package booking

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
)

// MaxActionBatch is the most ids ConfirmReservations and CancelReservations take in one call.
const MaxActionBatch = 500

// MaxReference is the longest reference a batch confirmation records.
const MaxReference = 200

// Methods named in idempotency keys of batch changes; distinct from the single-reservation
// methods, so a batch's request id never collides with a single call's.
const (
	opConfirmBatch = "ConfirmReservations"
	opCancelBatch  = "CancelReservations"
)

// ActionOutcome is the outcome of a batch action on one id.
type ActionOutcome int

// The outcomes, numbered as waybill.reservation.v1.ReservationActionResult.Outcome (and
// stored with idempotency keys, so the numbers never change). Booking never answers the
// contract's OUTCOME_DENIED (3): another customer's reservation is ActionNotFound, as in
// every other answer of booking.
const (
	// ActionOK means the action was done now, or the reservation was already in the wanted
	// state and nothing changed.
	ActionOK ActionOutcome = 1
	// ActionNotFound means no reservation the caller may act on has the id.
	ActionNotFound ActionOutcome = 2
	// ActionFailedPrecondition means the reservation's state does not allow the action;
	// ActionResult.Reason says why.
	ActionFailedPrecondition ActionOutcome = 4
)

// ActionResult is the outcome of a batch action for one requested id.
type ActionResult struct {
	// ID is the id as requested.
	ID string `json:"id"`
	// Outcome is what happened.
	Outcome ActionOutcome `json:"outcome"`
	// Status is the main status after the action; unspecified when not found.
	Status Status `json:"status,omitempty"`
	// Reason is a machine-readable reason for ActionFailedPrecondition.
	Reason string `json:"reason,omitempty"`
	// Version is the reservation's version after the action; 0 when not found.
	Version int64 `json:"version,omitempty"`
}

// BatchChange is one reservation a batch changed, for storage to write like
// UpdateReservation does: the row, the counters and the event.
type BatchChange struct {
	Reservation *Reservation
	Change      Change
}

// BatchApply runs a batch's domain logic on the locked reservations (by id; ids that do not
// exist are missing). It returns the reservations it changed and a function encoding the
// batch's result, which storage calls once the changed reservations carry the versions
// their writes give them, and stores with the idempotency key.
type BatchApply func(rs map[string]*Reservation) (changed []BatchChange, encode func() ([]byte, error), err error)

// ConfirmReservations confirms a batch of reservations for a service or an operator, in
// one transaction, each id with its own outcome: a HELD reservation is confirmed, a
// CONFIRMED one is OK without a change, a lapsed or expired hold fails with HOLD_EXPIRED
// and other states with INVALID_STATUS_TRANSITION. The reference is recorded in each
// confirmation's history entry. A retry with the same request id returns the first
// call's results and changes nothing.
func (s *Service) ConfirmReservations(ctx context.Context, c caller.Caller, provider string, ids []string, requestID, reference string) ([]ActionResult, error) {
	if err := requireBatchCaller(c); err != nil {
		return nil, err
	}
	v := validateBatch(provider, ids)
	v.Check(runeLen(reference, 0, MaxReference), "reference", "must be at most %d characters", MaxReference)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := idempotency.CheckRequestID(requestID, true); err != nil {
		return nil, err
	}
	key := batchKey(c, opConfirmBatch, requestID, ids, reference)
	return s.batch(ctx, c, key, ids, func(r *Reservation, now time.Time) (Change, error) {
		return ConfirmForBatch(r, now, c.Subject, reference)
	})
}

// CancelReservations cancels a batch of reservations for a service or an operator, in one
// transaction, each id with its own outcome: HELD and CONFIRMED reservations are
// cancelled under their policy (in full when waiveFees is set or the caller is an
// operator), CANCELLED and EXPIRED ones are OK without a change. A retry with the same
// request id returns the first call's results and changes nothing.
func (s *Service) CancelReservations(ctx context.Context, c caller.Caller, provider string, ids []string, requestID, reason string, waiveFees bool) ([]ActionResult, error) {
	if err := requireBatchCaller(c); err != nil {
		return nil, err
	}
	v := validateBatch(provider, ids)
	v.Check(runeLen(reason, 0, MaxReason), "reason", "must be at most %d characters", MaxReason)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := idempotency.CheckRequestID(requestID, true); err != nil {
		return nil, err
	}
	key := batchKey(c, opCancelBatch, requestID, ids, reason, strconv.FormatBool(waiveFees))
	full := waiveFees || c.Role == caller.Operator
	return s.batch(ctx, c, key, ids, func(r *Reservation, now time.Time) (Change, error) {
		return CancelForBatch(r, now, c.Subject, reason, full)
	})
}

// ConfirmForBatch is Reservation.Confirm as a batch applies it: an EXPIRED reservation
// fails with HOLD_EXPIRED (its hold lapsed), and a non-empty reference becomes the
// confirmation's history reason.
func ConfirmForBatch(r *Reservation, now time.Time, actor, reference string) (Change, error) {
	if r.Status == StatusExpired {
		return Change{}, errs.Precondition(ReasonHoldExpired, "the hold expired")
	}
	ch, err := r.Confirm(now, actor)
	if err == nil && !ch.None && reference != "" {
		r.History[len(r.History)-1].Reason = reference
	}
	return ch, err
}

// CancelForBatch is Reservation.Cancel as a batch applies it: a CANCELLED or EXPIRED
// reservation is already where the batch wants it, so nothing changes.
func CancelForBatch(r *Reservation, now time.Time, actor, reason string, fullRefund bool) (Change, error) {
	if r.Status == StatusCancelled || r.Status == StatusExpired {
		return Change{None: true}, nil
	}
	return r.Cancel(now, actor, reason, fullRefund)
}

// requireBatchCaller lets only services and operators run batch actions.
func requireBatchCaller(c caller.Caller) error {
	if err := requireCaller(c); err != nil {
		return err
	}
	if !c.Privileged() {
		return errs.Denied("", "only services and operators may act on reservations in batches")
	}
	return nil
}

// validateBatch checks what both batch actions take.
func validateBatch(provider string, reservationIDs []string) *errs.Violations {
	var v errs.Violations
	v.Check(provider == "" || provider == ProviderName, "provider", "must be %q or empty", ProviderName)
	v.Check(len(reservationIDs) >= 1 && len(reservationIDs) <= MaxActionBatch, "ids", "must hold 1 to %d ids, got %d", MaxActionBatch, len(reservationIDs))
	for i, id := range reservationIDs {
		ids.CheckTo(&v, "ids["+itoa(i)+"]", id)
	}
	return &v
}

// batchKey is the idempotency key of a batch: its parameters, then its ids in request
// order, so that a request id reused for another batch is refused instead of answered
// with another batch's results.
func batchKey(c caller.Caller, op, requestID string, ids []string, params ...string) idempotency.Key {
	return requestKey(c, op, requestID, append(append(params, strconv.Itoa(len(ids))), ids...)...)
}

// batch runs fn on every distinct existing id of ids under the rows' locks, in one
// transaction with the idempotency key, and returns one result per requested id in
// request order. Fresh and replayed calls decode the same stored result, so a retry's
// answer is identical to the first.
func (s *Service) batch(ctx context.Context, c caller.Caller, key idempotency.Key, ids []string, fn func(r *Reservation, now time.Time) (Change, error)) ([]ActionResult, error) {
	lookup := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if n := normalizeID(id); ValidID(n) && !seen[n] {
			seen[n] = true
			lookup = append(lookup, n)
		}
	}
	blob, err := s.store.UpdateReservations(ctx, lookup, key, func(rs map[string]*Reservation) ([]BatchChange, func() ([]byte, error), error) {
		now := s.now()
		done := make(map[string]ActionResult, len(rs))
		var changed []BatchChange
		for _, id := range lookup {
			r := rs[id]
			if r == nil {
				continue
			}
			if !c.MayAccess(r.CustomerID) {
				continue // answered as not found
			}
			ch, err := fn(r, now)
			if err != nil {
				pre, ok := errs.As(err)
				if !ok || pre.Kind != errs.FailedPrecondition {
					return nil, nil, fmt.Errorf("reservation %s: %w", id, err)
				}
				done[id] = ActionResult{Outcome: ActionFailedPrecondition, Status: r.Status, Reason: pre.ReasonOrKind(), Version: r.Version}
				continue
			}
			if !ch.None {
				changed = append(changed, BatchChange{Reservation: r, Change: ch})
			}
			done[id] = ActionResult{Outcome: ActionOK, Status: r.Status}
		}
		// Storage calls encode once the changed reservations carry their new versions.
		encode := func() ([]byte, error) {
			results := make([]ActionResult, len(ids))
			for i, id := range ids {
				n := normalizeID(id)
				res, ok := done[n]
				if !ok {
					res = ActionResult{Outcome: ActionNotFound}
				}
				res.ID = id
				if res.Outcome == ActionOK {
					res.Status, res.Version = rs[n].Status, rs[n].Version
				}
				results[i] = res
			}
			return json.Marshal(results)
		}
		return changed, encode, nil
	})
	if err != nil {
		return nil, err
	}
	var out []ActionResult
	if err := json.Unmarshal(blob, &out); err != nil {
		return nil, fmt.Errorf("decode batch results: %w", err)
	}
	return out, nil
}
