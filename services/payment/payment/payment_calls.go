package payment

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/page"
)

// OperationResult is what AuthorizePayment, CapturePayment, VoidPayment and RefundPayment
// return: the payment after the operation, with its timeline, and the operation.
type OperationResult struct {
	// Payment is the payment after the operation.
	Payment Payment
	// Operation is the operation: succeeded, failed or pending.
	Operation Operation
}

// AuthorizeInput is an AuthorizePayment request.
type AuthorizeInput struct {
	// MethodID is the payment method to authorize on.
	MethodID string
	// Amount is the amount to hold, from 1 to money.MaxAmount minor units.
	Amount money.Money
	// Reference is the caller's reference, at most 128 characters.
	Reference string
	// RequestID is the idempotency key.
	RequestID string
}

func (in AuthorizeInput) validate() error {
	if err := ids.Check("payment_method_id", in.MethodID); err != nil {
		return err
	}
	if err := money.CheckPositive("amount", in.Amount); err != nil {
		return err
	}
	if len([]rune(in.Reference)) > 128 {
		return errs.Invalid("reference", "must be at most 128 characters")
	}
	return idempotency.CheckRequestID(in.RequestID, true)
}

// Authorize holds an amount on a payment method and creates a payment: AUTHORIZED, FAILED
// (declined; a result, not an error) or PENDING_RECONCILIATION (the processor did not answer).
// Only services and operators may authorize.
func (s *Service) Authorize(ctx context.Context, c caller.Caller, in AuthorizeInput) (OperationResult, error) {
	var none OperationResult
	if err := requirePrivileged(c); err != nil {
		return none, err
	}
	if err := in.validate(); err != nil {
		return none, err
	}
	m, err := s.store.GetMethod(ctx, in.MethodID)
	if err != nil {
		return none, err
	}
	k := s.key(methodAuthorize, c, in.RequestID, in.MethodID, strconv.FormatInt(in.Amount.Amount, 10), in.Amount.Currency, in.Reference)
	cl, err := s.acquire(ctx, k, memo{ResourceID: NewID(), OperationID: NewID()})
	if err != nil {
		return none, err
	}
	if cl.Replayed {
		return s.replayOperation(ctx, cl)
	}
	now := s.now()
	switch {
	case m.Status == MethodDisabled:
		return none, s.recordError(ctx, cl, errs.Precondition(ReasonMethodDisabled, "payment method %s is disabled", m.ID))
	case m.Expired(now):
		return none, s.recordError(ctx, cl, errs.Precondition(ReasonMethodExpired, "the card of payment method %s has expired", m.ID))
	}
	p := Payment{
		ID: cl.ResourceID, CustomerID: m.CustomerID, MethodID: m.ID, Reference: in.Reference,
		Currency: in.Amount.Currency, Authorized: in.Amount.Amount, Processor: s.proc.Name(),
		AuthorizationExpireTime: now.Add(s.opts.AuthorizationTTL), CreateTime: now, UpdateTime: now,
	}
	op := Operation{ID: cl.OperationID, PaymentID: p.ID, Type: OpAuthorize, Status: OpInProgress,
		Amount: in.Amount, RequestID: in.RequestID, CreateTime: now}
	// A taken-over key's first attempt may have reached the processor: call asks it first.
	res, err := s.call(ctx, cl.Recovered, Request{Reference: op.ID, Token: m.Token, Amount: in.Amount}, OpAuthorize)
	if err != nil {
		s.abandon(ctx, cl)
		return none, err
	}
	if err := s.afterProcessor(ctx, methodAuthorize); err != nil {
		return none, err
	}
	p, op, events := Apply(p, op, res, s.now())
	p.Timeline = []Operation{op}
	out := OperationResult{Payment: p, Operation: op}
	body, err := encodeValue(out)
	if err != nil {
		return none, err
	}
	cctx, cancel := commitContext(ctx)
	defer cancel()
	err = s.store.Transact(cctx, func(tx Tx) error {
		if err := tx.InsertPayment(cctx, p); err != nil {
			return fmt.Errorf("insert payment: %w", err)
		}
		if err := tx.InsertOperation(cctx, op); err != nil {
			return fmt.Errorf("insert operation: %w", err)
		}
		if err := tx.Emit(events...); err != nil {
			return err
		}
		return tx.CompleteKey(cctx, cl.Lease, body, op.Status == OpPending)
	})
	if err != nil {
		return none, err
	}
	return out, nil
}

// call sends req to the processor. When recovered (a taken-over key whose first attempt may
// have reached the processor), it first asks the processor what happened to req.Reference and
// sends nothing if the processor has a record of it: money never moves twice. It returns an
// Unavailable error (ReasonProcessorUnavailable) when nothing was sent; an unknown outcome is
// a Result, not an error.
func (s *Service) call(ctx context.Context, recovered bool, req Request, t OperationType) (Result, error) {
	pctx, cancel := context.WithTimeout(ctx, s.opts.ProcessorTimeout)
	defer cancel()
	if recovered {
		lr, err := s.proc.Lookup(pctx, req.Reference)
		if err != nil {
			return Result{}, errProcessorUnavailable("look up operation "+req.Reference, err)
		}
		if lr.Found {
			return lr.Result, nil
		}
	}
	var res Result
	var err error
	switch t {
	case OpAuthorize:
		res, err = s.proc.Authorize(pctx, req)
	case OpCapture:
		res, err = s.proc.Capture(pctx, req)
	case OpVoid:
		res, err = s.proc.Void(pctx, req)
	case OpRefund:
		res, err = s.proc.Refund(pctx, req)
	default:
		return Result{}, fmt.Errorf("call processor: unknown operation type %d", t)
	}
	if errors.Is(err, ErrProcessorUnavailable) {
		return Result{}, errProcessorUnavailable(t.String(), err)
	}
	if err != nil {
		s.log.Warn("processor outcome unknown", "operation", t.String(), "operation_id", req.Reference, "error", err)
		return Result{Outcome: OutcomeUnknown}, nil
	}
	return res, nil
}

// processorUnavailable reports whether err says the processor could not be reached.
func processorUnavailable(err error) bool {
	return errors.Is(err, &errs.Error{Kind: errs.Unavailable, Reason: ReasonProcessorUnavailable})
}

// replayOperation answers a retry of a completed money-moving call: the stored result, or,
// when that result showed an unknown outcome, the current state after asking the processor.
func (s *Service) replayOperation(ctx context.Context, cl claim) (OperationResult, error) {
	if !cl.Pending {
		return decodeResult[OperationResult](cl.Result)
	}
	if _, err := s.reconcile(ctx, cl.ResourceID); err != nil && !processorUnavailable(err) {
		return OperationResult{}, err
	}
	res, err := s.current(ctx, cl.ResourceID, cl.OperationID)
	if err != nil {
		return OperationResult{}, err
	}
	if st := res.Operation.Status; st != OpPending && st != OpInProgress {
		// Resolved: from now on every retry replays this result.
		if body, err := encodeValue(res); err == nil {
			if err := s.store.ResolveKey(ctx, cl.Lease, body); err != nil {
				s.log.Warn("store resolved result", "key", cl.Lease, "error", err)
			}
		}
	}
	return res, nil
}

// current reads a payment with its timeline and one of its operations.
func (s *Service) current(ctx context.Context, paymentID, opID string) (OperationResult, error) {
	p, err := s.store.GetPayment(ctx, paymentID, true)
	if err != nil {
		return OperationResult{}, err
	}
	for _, op := range p.Timeline {
		if op.ID == opID {
			return OperationResult{Payment: p, Operation: op}, nil
		}
	}
	return OperationResult{}, errs.Missing("", "operation %s of payment %s not found", opID, paymentID)
}

// CaptureInput is a CapturePayment request.
type CaptureInput struct {
	// PaymentID is the payment.
	PaymentID string
	// Amount is the amount to capture; nil captures all that is capturable.
	Amount *money.Money
	// RequestID is the idempotency key.
	RequestID string
}

// VoidInput is a VoidPayment request.
type VoidInput struct {
	// PaymentID is the payment.
	PaymentID string
	// Reason is the caller's reason, at most 500 characters.
	Reason string
	// RequestID is the idempotency key.
	RequestID string
}

// RefundInput is a RefundPayment request.
type RefundInput struct {
	// PaymentID is the payment.
	PaymentID string
	// Amount is the amount to refund; nil refunds all that is refundable.
	Amount *money.Money
	// Reason is the caller's reason, at most 500 characters.
	Reason string
	// RequestID is the idempotency key.
	RequestID string
}

// opSpec is one capture, void or refund to run.
type opSpec struct {
	method    string
	typ       OperationType
	paymentID string
	amount    *money.Money
	reason    string
	requestID string
	// subStatus, when set, is set on the payment when the operation succeeds (expiry voids).
	subStatus string
}

func (o opSpec) validate() error {
	if err := ids.Check("payment_id", o.paymentID); err != nil {
		return err
	}
	if o.amount != nil {
		if err := money.CheckPositive("amount", *o.amount); err != nil {
			return err
		}
	}
	if len([]rune(o.reason)) > 500 {
		return errs.Invalid("reason", "must be at most 500 characters")
	}
	return idempotency.CheckRequestID(o.requestID, true)
}

// Capture captures all or part of the uncaptured authorized amount. A capture the processor
// rejects is a FAILED operation with the payment unchanged, not an error.
func (s *Service) Capture(ctx context.Context, c caller.Caller, in CaptureInput) (OperationResult, error) {
	return s.moneyOp(ctx, c, opSpec{method: methodCapture, typ: OpCapture, paymentID: in.PaymentID, amount: in.Amount, requestID: in.RequestID})
}

// Void releases the uncaptured authorized amount.
func (s *Service) Void(ctx context.Context, c caller.Caller, in VoidInput) (OperationResult, error) {
	return s.moneyOp(ctx, c, opSpec{method: methodVoid, typ: OpVoid, paymentID: in.PaymentID, reason: in.Reason, requestID: in.RequestID})
}

// Refund returns all or part of the captured amount; the refunded total never exceeds the
// captured total, which the database enforces too.
func (s *Service) Refund(ctx context.Context, c caller.Caller, in RefundInput) (OperationResult, error) {
	return s.moneyOp(ctx, c, opSpec{method: methodRefund, typ: OpRefund, paymentID: in.PaymentID, amount: in.Amount, reason: in.Reason, requestID: in.RequestID})
}

// moneyOp runs a capture, void or refund under its idempotency key; only services and
// operators may.
func (s *Service) moneyOp(ctx context.Context, c caller.Caller, o opSpec) (OperationResult, error) {
	var none OperationResult
	if err := requirePrivileged(c); err != nil {
		return none, err
	}
	if err := o.validate(); err != nil {
		return none, err
	}
	p, err := s.store.GetPayment(ctx, o.paymentID, false)
	if err != nil {
		return none, err
	}
	var amount int64
	if o.amount != nil {
		if o.amount.Currency != p.Currency {
			return none, errs.Invalid("amount.currency_code", "must be the payment's currency, %s", p.Currency)
		}
		amount = o.amount.Amount
	}
	k := s.key(o.method, c, o.requestID, p.ID, strconv.FormatInt(amount, 10), p.Currency, o.reason)
	cl, err := s.acquire(ctx, k, memo{ResourceID: p.ID, OperationID: NewID()})
	if err != nil {
		return none, err
	}
	if cl.Replayed {
		return s.replayOperation(ctx, cl)
	}
	return s.execute(ctx, cl, o, amount)
}

// execute runs a claimed capture, void or refund: it reserves the operation on the payment
// (or, for a taken-over key, finds the reservation its first attempt made), calls the
// processor (asking it first what a crashed attempt did), and records the outcome with the
// key's result in one transaction.
func (s *Service) execute(ctx context.Context, cl claim, o opSpec, amount int64) (OperationResult, error) {
	var none OperationResult
	var p Payment
	var op Operation
	resumed := false
	if cl.Recovered {
		existing, err := s.store.GetOperation(ctx, cl.OperationID)
		switch {
		case err == nil && existing.Status != OpInProgress:
			// Reconciled meanwhile: answer with the current state.
			return s.finish(ctx, cl, existing.PaymentID, existing.ID, nil, o.subStatus)
		case err == nil:
			op, resumed = existing, true
			if p, err = s.store.GetPayment(ctx, op.PaymentID, false); err != nil {
				s.abandon(ctx, cl)
				return none, err
			}
		case !errors.Is(err, errs.NotFound):
			s.abandon(ctx, cl)
			return none, err
		}
	}
	if !resumed {
		var err error
		p, op, err = s.reserve(ctx, cl, o, amount)
		if err != nil {
			if recordable(err) && !cl.keyless {
				return none, s.recordError(ctx, cl, err)
			}
			s.abandon(ctx, cl)
			return none, err
		}
	}
	req := Request{Reference: op.ID, AuthorizationReference: p.ProcessorReference, Amount: op.Amount}
	res, err := s.call(ctx, resumed, req, o.typ)
	if err != nil {
		if !resumed {
			s.unreserve(ctx, p.ID, op.ID)
		}
		s.abandon(ctx, cl)
		return none, err
	}
	if err := s.afterProcessor(ctx, o.method); err != nil {
		return none, err
	}
	return s.finish(ctx, cl, p.ID, op.ID, &res, o.subStatus)
}

// reserve makes the operation the payment's busy operation, in the database, after checking
// the payment's state and limits; the database's constraints check the amounts again. A busy
// operation past its lease, or a pending one, is reconciled first.
func (s *Service) reserve(ctx context.Context, cl claim, o opSpec, amount int64) (Payment, Operation, error) {
	for attempt := 0; ; attempt++ {
		now := s.now()
		var p Payment
		var op Operation
		var stale bool
		err := s.store.Transact(ctx, func(tx Tx) error {
			stale = false
			var err error
			if p, err = tx.LockPayment(ctx, cl.ResourceID); err != nil {
				return err
			}
			if p.BusyOperationID != "" {
				if p.Status == StatusPendingReconciliation || !p.BusySince.After(now.Add(-s.opts.Lease)) {
					stale = true
					return nil
				}
				return errPaymentBusy()
			}
			amt, err := Plan(p, o.typ, amount, now)
			if err != nil {
				return err
			}
			op = Operation{ID: cl.OperationID, PaymentID: p.ID, Type: o.typ, Status: OpInProgress,
				Amount: p.Money(amt), RequestID: o.requestID, Reason: o.reason, CreateTime: now}
			p = reserve(p, op, now)
			if err := tx.UpdatePayment(ctx, p); err != nil {
				return fmt.Errorf("reserve operation: %w", err)
			}
			if err := tx.InsertOperation(ctx, op); err != nil {
				return fmt.Errorf("insert operation: %w", err)
			}
			return nil
		})
		if err != nil || !stale {
			return p, op, err
		}
		if attempt > 0 {
			return p, op, errPaymentBusy()
		}
		resolved, err := s.reconcile(ctx, p.ID)
		if err != nil {
			return p, op, err
		}
		if !resolved {
			if p.Status == StatusPendingReconciliation {
				return p, op, errs.Precondition(ReasonPaymentPending, "the outcome of an earlier operation on payment %s is not known yet; reconcile the payment first", p.ID)
			}
			return p, op, errPaymentBusy()
		}
	}
}

// unreserve drops an operation that was never sent to the processor.
func (s *Service) unreserve(ctx context.Context, paymentID, opID string) {
	cctx, cancel := commitContext(ctx)
	defer cancel()
	err := s.store.Transact(cctx, func(tx Tx) error {
		p, err := tx.LockPayment(cctx, paymentID)
		if err != nil {
			return err
		}
		if p.BusyOperationID != opID {
			return nil
		}
		p.BusyOperationID, p.BusyType, p.BusyAmount, p.BusySince = "", OpUnspecified, 0, time.Time{}
		if err := tx.UpdatePayment(cctx, p); err != nil {
			return err
		}
		return tx.DeleteOperation(cctx, opID)
	})
	if err != nil {
		s.log.Warn("drop unsent operation", "operation_id", opID, "error", err)
	}
}

// finish records the processor's result res of the busy operation opID, with its events and
// the key's result, in one transaction. With res nil, or when the operation was resolved
// meanwhile by reconciliation, it records the current state as the result.
func (s *Service) finish(ctx context.Context, cl claim, paymentID, opID string, res *Result, subStatus string) (OperationResult, error) {
	cctx, cancel := commitContext(ctx)
	defer cancel()
	var out OperationResult
	err := s.store.Transact(cctx, func(tx Tx) error {
		p, err := tx.LockPayment(cctx, paymentID)
		if err != nil {
			return err
		}
		op, err := tx.GetOperation(cctx, opID)
		if err != nil {
			return err
		}
		if res != nil && p.BusyOperationID == op.ID && op.Status == OpInProgress {
			var events []Event
			p, op, events = Apply(p, op, *res, s.now())
			if subStatus != "" && op.Status == OpSucceeded {
				p.SubStatus = subStatus
				for i := range events {
					events[i].Payment.SubStatus = subStatus
				}
			}
			if err := tx.UpdatePayment(cctx, p); err != nil {
				return fmt.Errorf("update payment: %w", err)
			}
			if err := tx.UpdateOperation(cctx, op); err != nil {
				return fmt.Errorf("update operation: %w", err)
			}
			if err := tx.Emit(events...); err != nil {
				return err
			}
		} else if res != nil {
			s.log.Warn("operation was resolved by reconciliation before its outcome was recorded",
				"operation_id", op.ID, "status", op.Status.String())
		}
		if p, err = tx.GetPayment(cctx, paymentID, true); err != nil {
			return err
		}
		out = OperationResult{Payment: p, Operation: op}
		if cl.keyless {
			return nil
		}
		body, err := encodeValue(out)
		if err != nil {
			return err
		}
		return tx.CompleteKey(cctx, cl.Lease, body, op.Status == OpPending || op.Status == OpInProgress)
	})
	if err != nil {
		return OperationResult{}, err
	}
	return out, nil
}

// Reconcile asks the processor about the pending operation of a PENDING_RECONCILIATION payment
// (or one whose operation's attempt died) and applies the answer. It returns the payment and
// whether this call resolved the operation. Only services and operators may reconcile.
func (s *Service) Reconcile(ctx context.Context, c caller.Caller, id string) (Payment, bool, error) {
	if err := requirePrivileged(c); err != nil {
		return Payment{}, false, err
	}
	if err := ids.Check("payment_id", id); err != nil {
		return Payment{}, false, err
	}
	resolved, err := s.reconcile(ctx, id)
	if err != nil {
		return Payment{}, false, err
	}
	p, err := s.store.GetPayment(ctx, id, true)
	return p, resolved, err
}

// reconcile resolves the payment's busy operation if it is pending, or in progress past its
// lease, by asking the processor; an operation the processor never received failed.
func (s *Service) reconcile(ctx context.Context, id string) (bool, error) {
	p, err := s.store.GetPayment(ctx, id, false)
	if err != nil {
		return false, err
	}
	if p.BusyOperationID == "" {
		return false, nil
	}
	if p.Status != StatusPendingReconciliation && p.BusySince.After(s.now().Add(-s.opts.Lease)) {
		return false, nil // its attempt is still running
	}
	opID := p.BusyOperationID
	pctx, cancel := context.WithTimeout(ctx, s.opts.ProcessorTimeout)
	lr, err := s.proc.Lookup(pctx, opID)
	cancel()
	if err != nil {
		return false, errProcessorUnavailable("look up operation "+opID, err)
	}
	res := lr.Result
	if !lr.Found {
		res = NotProcessed
	}
	if res.Outcome == OutcomeUnknown {
		return false, nil
	}
	cctx, cancelCommit := commitContext(ctx)
	defer cancelCommit()
	resolved := false
	err = s.store.Transact(cctx, func(tx Tx) error {
		resolved = false
		p, err := tx.LockPayment(cctx, id)
		if err != nil {
			return err
		}
		if p.BusyOperationID != opID {
			return nil
		}
		op, err := tx.GetOperation(cctx, opID)
		if err != nil {
			return err
		}
		if op.Status != OpPending && op.Status != OpInProgress {
			return nil
		}
		p, op, events := Apply(p, op, res, s.now())
		if err := tx.UpdatePayment(cctx, p); err != nil {
			return fmt.Errorf("update payment: %w", err)
		}
		if err := tx.UpdateOperation(cctx, op); err != nil {
			return fmt.Errorf("update operation: %w", err)
		}
		if err := tx.Emit(events...); err != nil {
			return err
		}
		resolved = true
		return nil
	})
	if err == nil && resolved {
		s.log.Info("reconciled operation", "payment_id", id, "operation_id", opID)
	}
	return resolved, err
}

// GetPayment returns a payment, with its timeline when timeline is true. Customers see only
// their own payments: another's is not found.
func (s *Service) GetPayment(ctx context.Context, c caller.Caller, id string, timeline bool) (Payment, error) {
	if err := requireCaller(c); err != nil {
		return Payment{}, err
	}
	if err := ids.Check("payment_id", id); err != nil {
		return Payment{}, err
	}
	p, err := s.store.GetPayment(ctx, id, timeline)
	if err != nil {
		return Payment{}, err
	}
	if !c.MayAccess(p.CustomerID) {
		return Payment{}, notFound("payment", id)
	}
	return p, nil
}

// ListPayments returns one page of payments matching f, newest first, and the next page's
// token. Customers list only their own payments (f.CustomerID defaults to them).
func (s *Service) ListPayments(ctx context.Context, c caller.Caller, f PaymentFilter, pg Page, timeline bool) ([]Payment, string, error) {
	customer, err := listCustomer(c, f.CustomerID)
	if err != nil {
		return nil, "", err
	}
	f.CustomerID = customer
	limit, err := pg.limit()
	if err != nil {
		return nil, "", err
	}
	filter := page.Fingerprint("payments", f.CustomerID, f.Reference, f.Statuses, timeline)
	var cur Cursor
	ok, err := pg.decodeCursor(filter, &cur, func() string { return cur.ID })
	if err != nil {
		return nil, "", err
	}
	var after *Cursor
	if ok {
		after = &cur
	}
	ps, err := s.store.ListPayments(ctx, f, after, limit+1, timeline)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ps) > limit {
		ps = ps[:limit]
		last := ps[limit-1]
		next = page.Encode(Cursor{Time: last.CreateTime, ID: last.ID}, filter)
	}
	return ps, next, nil
}

// SetSubStatus sets a payment's free-form sub-status. With expectedVersion non-zero it fails
// with ABORTED (ReasonVersionMismatch) unless the payment's version equals it. Setting the
// current value changes nothing. Only services and operators may set it.
func (s *Service) SetSubStatus(ctx context.Context, c caller.Caller, id, subStatus string, expectedVersion int64) (Payment, error) {
	if err := requirePrivileged(c); err != nil {
		return Payment{}, err
	}
	if err := ids.Check("payment_id", id); err != nil {
		return Payment{}, err
	}
	if len([]rune(subStatus)) > 64 {
		return Payment{}, errs.Invalid("sub_status", "must be at most 64 characters")
	}
	if expectedVersion < 0 {
		return Payment{}, errs.Invalid("expected_version", "must not be negative")
	}
	var out Payment
	err := s.store.Transact(ctx, func(tx Tx) error {
		p, err := tx.LockPayment(ctx, id)
		if err != nil {
			return err
		}
		if expectedVersion != 0 && p.Version != expectedVersion {
			return errs.Abort(ReasonVersionMismatch, "payment %s is at version %d, not %d", id, p.Version, expectedVersion)
		}
		if p.SubStatus != subStatus {
			p.SubStatus = subStatus
			p.Version++
			p.UpdateTime = s.now()
			if err := tx.UpdatePayment(ctx, p); err != nil {
				return fmt.Errorf("update payment: %w", err)
			}
		}
		out = p
		return nil
	})
	return out, err
}
