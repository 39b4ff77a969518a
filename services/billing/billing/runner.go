package billing

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/waybill/waybill/kit/errs"
)

// RunnerOptions tunes a Runner. Zero fields take the defaults.
type RunnerOptions struct {
	// Lease is how long a claimed saga stays this runner's without a save (default 30 s);
	// a runner that died loses its sagas to another after it.
	Lease time.Duration
	// Poll is how often the runner looks for due sagas without being woken (default 1 s).
	Poll time.Duration
	// RetryMin and RetryMax bound the backoff after a transient failure (default 200 ms
	// and 10 s).
	RetryMin, RetryMax time.Duration
	// CallTimeout is each outbound call's deadline (default 10 s); keep it below Lease.
	CallTimeout time.Duration
	// ConfirmTimeout is how long the saga keeps retrying confirmations whose outcome is
	// unknown before it gives up and compensates (default 2 min).
	ConfirmTimeout time.Duration
	// Concurrency caps the sagas one runner drives at a time (default 16).
	Concurrency int
	// Hook, when set, runs at named points of each saga ("authorize:sent" after the call
	// answered but before its outcome is stored, "authorize:done" after it is stored, and
	// likewise "confirm_items:…", "capture:…", "compensate:…"). An error stops the
	// runner's work on the saga as if the process had died there. For tests.
	Hook func(ctx context.Context, sagaID, point string) error
	// Logger receives the runner's logs; nil discards them.
	Logger *slog.Logger
}

// Runner drives pay sagas to their end: it leases unfinished sagas from storage (any
// billing process may run one; a saga whose runner died is taken over after its lease),
// executes their steps and compensations, and stores their progress after every step.
type Runner struct {
	svc   *Service
	store SagaStore
	pay   Payments
	res   Reservations
	opts  RunnerOptions
	owner string
	wake  chan struct{}
}

// NewRunner returns a runner on the service's clock.
func NewRunner(svc *Service, store SagaStore, pay Payments, res Reservations, opts RunnerOptions) *Runner {
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 200 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 10 * time.Second
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	if opts.ConfirmTimeout <= 0 {
		opts.ConfirmTimeout = 2 * time.Minute
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Runner{svc: svc, store: store, pay: pay, res: res, opts: opts, owner: "runner-" + NewID(), wake: make(chan struct{}, 1)}
}

// Wake makes the runner look for due sagas now.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run drives sagas until ctx ends. Storage errors (for example before the migrations
// ran) are retried at the next poll.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	var active sync.Map // ids of the sagas being driven
	slots := make(chan struct{}, r.opts.Concurrency)
	tick := time.NewTicker(r.opts.Poll)
	defer tick.Stop()
	for {
		if free := cap(slots) - len(slots); free > 0 {
			sagas, err := r.store.ClaimSagas(ctx, r.owner, r.opts.Lease, free)
			if err != nil && ctx.Err() == nil {
				r.opts.Logger.Debug("claim sagas", slog.Any("error", err))
			}
			for _, s := range sagas {
				if _, busy := active.LoadOrStore(s.ID, true); busy {
					continue // still driving it: the claim only extended its lease
				}
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { active.Delete(s.ID); <-slots; r.Wake() }()
					r.drive(ctx, s)
				}()
			}
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-tick.C:
		case <-r.wake:
		}
	}
}

// errStop stops driving a saga without touching it further.
var errStop = errors.New("stop driving the saga")

// drive runs the saga's steps until it ends, waits for a retry, or this runner must stop.
func (r *Runner) drive(ctx context.Context, s Saga) {
	log := r.opts.Logger.With(slog.String("saga", s.ID), slog.String("bill", s.BillID))
	for s.State.Active() {
		err := r.step(ctx, &s)
		var tr *transientError
		switch {
		case err == nil:
			continue
		case errors.As(err, &tr) && ctx.Err() == nil:
			s.Progress.Retries++
			s.Progress.LastError = tr.Error()
			wait := r.backoff(s.Progress.Retries)
			log.Info("saga step will be retried", slog.String("step", s.Step.String()), slog.Duration("after", wait), slog.Any("error", tr.err))
			if err := r.save(ctx, &s, true, wait); err != nil && ctx.Err() == nil {
				log.Warn("save saga", slog.Any("error", err))
			}
			return
		default:
			if ctx.Err() == nil && !errors.Is(err, errStop) {
				log.Warn("saga stopped", slog.Any("error", err))
			}
			return
		}
	}
}

// backoff is the wait before the nth retry of a saga step: RetryMin, doubling up to
// RetryMax. The count is stored with the saga and the wait becomes its stored due time,
// so that any runner, in any process, resumes it; the delay is therefore a function of
// the count. cenkalti/backoff's ExponentialBackOff keeps its interval in memory and
// would have to be replayed n times to give the same answer, so this stays hand-written.
func (r *Runner) backoff(n int) time.Duration {
	d := r.opts.RetryMin
	for i := 1; i < n && d < r.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, r.opts.RetryMax)
}

// transientError is a failure that a later retry of the same step may overcome.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }

// retryable reports whether a call's error may go away on a retry with the same request
// id: a dependency that could not answer (UNAVAILABLE), a lost race (ABORTED), or a
// deadline.
func retryable(err error) bool {
	return errors.Is(err, errs.Unavailable) || errors.Is(err, errs.Aborted) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// hook runs the test hook at point.
func (r *Runner) hook(ctx context.Context, s *Saga, point string) error {
	if r.opts.Hook == nil {
		return nil
	}
	if err := r.opts.Hook(ctx, s.ID, point); err != nil {
		return errors.Join(errStop, err)
	}
	return nil
}

// save stores the saga's progress and applies it to its bill. The retry count is reset
// only when the saga moves to another step or state (moveTo, fail): a step that saves
// partial progress and then fails again keeps backing off.
func (r *Runner) save(ctx context.Context, s *Saga, release bool, retryAfter time.Duration) error {
	now := r.svc.now()
	s.UpdateTime = now
	return r.store.SaveSaga(ctx, *s, r.owner, r.opts.Lease, release, retryAfter, now, func(b *Bill) Change {
		return b.ApplySaga(*s, now)
	})
}

// call runs fn with the call deadline.
func (r *Runner) call(ctx context.Context, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	return fn(cctx)
}

// step performs the saga's next unit of work and stores its outcome.
func (r *Runner) step(ctx context.Context, s *Saga) error {
	if s.State == SagaCompensating {
		return r.compensate(ctx, s)
	}
	switch s.Step {
	case StepAuthorize:
		return r.authorize(ctx, s)
	case StepConfirmItems:
		return r.confirm(ctx, s)
	case StepCapture:
		return r.capture(ctx, s)
	}
	return errors.New("saga is on no step")
}

// moveTo starts step and stores it (with its registered compensations) before it runs.
func (r *Runner) moveTo(ctx context.Context, s *Saga, step SagaStep) error {
	s.Step, s.StepTime = step, r.svc.now()
	s.Progress.Retries, s.Progress.LastError = 0, ""
	if step == StepCapture {
		// From here on money may be captured: register the refund first.
		s.Progress.RefundRegistered = true
	}
	return r.save(ctx, s, false, 0)
}

// fail ends the step in failure: with nothing to undo the saga is FAILED at once,
// otherwise it compensates.
func (r *Runner) fail(ctx context.Context, s *Saga, compensate bool, code, msg string, items []string) error {
	s.FailureCode, s.FailureMessage, s.FailedItemIDs = code, msg, items
	s.Progress.Retries, s.Progress.LastError = 0, ""
	if compensate {
		s.State = SagaCompensating
	} else {
		s.State, s.EndTime = SagaFailed, r.svc.now()
	}
	return r.save(ctx, s, false, 0)
}

// authorize runs the AUTHORIZE step: the bill's total is held on the payment method.
// The call is repeated with the same request id after a crash, so it authorizes once.
func (r *Runner) authorize(ctx context.Context, s *Saga) error {
	var p Payment
	err := r.call(ctx, func(ctx context.Context) (err error) {
		p, err = r.pay.Authorize(ctx, s.PaymentMethodID, s.Amount, s.Reference(), s.RequestID("authorize"))
		return err
	})
	if err := r.hook(ctx, s, "authorize:sent"); err != nil {
		return err
	}
	switch {
	case err != nil && retryable(err):
		return &transientError{err}
	case err != nil:
		// Refused for good (method disabled, expired or gone): no money moved.
		s.Progress.PaymentSettled = true
		return r.fail(ctx, s, false, FailurePaymentMethodNotUsable, err.Error(), nil)
	}
	if p.ID != s.PaymentID {
		s.PaymentID = p.ID
		if err := r.save(ctx, s, false, 0); err != nil {
			return err
		}
	}
	if p.Status == PaymentPendingReconciliation {
		if p, err = r.reconcile(ctx, s); err != nil {
			return err
		}
	}
	switch p.Status {
	case PaymentAuthorized:
	case PaymentFailed:
		s.Progress.PaymentSettled = true
		code := p.DeclineCode
		if code == "" {
			code = FailurePaymentRejected
		}
		return r.fail(ctx, s, false, code, p.FailureMessage, nil)
	default:
		return r.fail(ctx, s, true, FailurePaymentRejected, "the authorization ended "+paymentStatusName(p.Status), nil)
	}
	next := StepConfirmItems
	if len(s.Progress.Batches) == 0 {
		next = StepCapture
	}
	if err := r.moveTo(ctx, s, next); err != nil {
		return err
	}
	return r.hook(ctx, s, "authorize:done")
}

// reconcile asks the payment service to resolve the payment's pending operation; a
// payment still pending is a transient failure.
func (r *Runner) reconcile(ctx context.Context, s *Saga) (Payment, error) {
	var p Payment
	err := r.call(ctx, func(ctx context.Context) (err error) {
		p, err = r.pay.Reconcile(ctx, s.PaymentID)
		return err
	})
	if err != nil {
		return Payment{}, &transientError{err}
	}
	if p.Status == PaymentPendingReconciliation {
		return Payment{}, &transientError{errors.New("payment outcome unknown; reconciling")}
	}
	return p, nil
}

// confirm runs the CONFIRM_ITEMS step: one ConfirmReservations call per provider (and
// chunk), all in parallel. Each batch was registered, with its cancellation, when the
// saga started; a batch whose answer is unknown is sent again with the same request id.
func (r *Runner) confirm(ctx context.Context, s *Saga) error {
	var wg sync.WaitGroup
	callErrs := make([]error, len(s.Progress.Batches))
	outs := make([][]ActionOutcome, len(s.Progress.Batches))
	for i, b := range s.Progress.Batches {
		if b.Done {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			callErrs[i] = r.call(ctx, func(ctx context.Context) (err error) {
				outs[i], err = r.res.Confirm(ctx, b.Provider, b.ReservationIDs, s.RequestID("confirm", b.Provider, b.Chunk), s.Reference())
				return err
			})
			if callErrs[i] == nil && len(outs[i]) != len(b.ReservationIDs) {
				callErrs[i] = errs.Unreachable(ReasonProviderUnavailable, "provider %s answered %d results for %d reservations", b.Provider, len(outs[i]), len(b.ReservationIDs))
			}
		}()
	}
	wg.Wait()
	if err := r.hook(ctx, s, "confirm_items:sent"); err != nil {
		return err
	}
	var pendingErr error
	for i := range s.Progress.Batches {
		b := &s.Progress.Batches[i]
		switch err := callErrs[i]; {
		case b.Done:
		case err == nil:
			b.Done, b.Outcomes = true, outs[i]
		case retryable(err):
			pendingErr = err
		default:
			// The provider refused the whole batch for good: none is confirmed.
			b.Done, b.Outcomes = true, make([]ActionOutcome, len(b.ReservationIDs))
			for j := range b.Outcomes {
				b.Outcomes[j].Code = "REJECTED"
			}
		}
	}
	var failed []string
	for _, b := range s.Progress.Batches {
		for j, id := range b.ItemIDs {
			if !b.Done || (j < len(b.Outcomes) && !b.Outcomes[j].OK) {
				failed = append(failed, id)
			}
		}
	}
	if pendingErr != nil {
		if r.svc.now().Sub(s.StepTime) < r.opts.ConfirmTimeout {
			if err := r.save(ctx, s, false, 0); err != nil {
				return err
			}
			return &transientError{pendingErr}
		}
		// Give up: cancel whatever may have been confirmed.
		return r.fail(ctx, s, true, FailureItemNotConfirmable, "a provider could not be reached: "+pendingErr.Error(), failed)
	}
	if len(failed) > 0 {
		return r.fail(ctx, s, true, FailureItemNotConfirmable, "some items could not be confirmed", failed)
	}
	if s.PaymentID == "" && s.Amount.Amount == 0 {
		// A bill of zero total has no payment to capture: confirming was the whole saga.
		s.State, s.EndTime = SagaSucceeded, r.svc.now()
		if err := r.save(ctx, s, false, 0); err != nil {
			return err
		}
		return r.hook(ctx, s, "confirm_items:done")
	}
	if err := r.moveTo(ctx, s, StepCapture); err != nil {
		return err
	}
	return r.hook(ctx, s, "confirm_items:done")
}

// capture runs the CAPTURE step. A capture whose outcome is unknown keeps the saga
// RUNNING while the payment service reconciles it; it is never sent under another key.
func (r *Runner) capture(ctx context.Context, s *Saga) error {
	var p Payment
	err := r.call(ctx, func(ctx context.Context) (err error) {
		p, err = r.pay.Capture(ctx, s.PaymentID, s.Amount, s.RequestID("capture"))
		return err
	})
	if err := r.hook(ctx, s, "capture:sent"); err != nil {
		return err
	}
	switch {
	case err != nil && retryable(err):
		return &transientError{err}
	case err != nil && !errors.Is(err, errs.FailedPrecondition) && !errors.Is(err, errs.NotFound):
		return r.fail(ctx, s, true, FailureCaptureFailed, err.Error(), nil)
	case err != nil:
		// Not capturable now: the payment's state says why (pending, or already captured).
		err = r.call(ctx, func(ctx context.Context) (err error) {
			p, err = r.pay.Payment(ctx, s.PaymentID)
			return err
		})
		if err != nil {
			return &transientError{err}
		}
	}
	if p.Status == PaymentPendingReconciliation {
		if p, err = r.reconcile(ctx, s); err != nil {
			return err
		}
	}
	if p.Status != PaymentCaptured {
		return r.fail(ctx, s, true, FailureCaptureFailed, "the capture did not succeed; the payment is "+paymentStatusName(p.Status), nil)
	}
	s.State, s.EndTime = SagaSucceeded, r.svc.now()
	if err := r.save(ctx, s, false, 0); err != nil {
		return err
	}
	return r.hook(ctx, s, "capture:done")
}

// compensate undoes what the saga may have done, in reverse: it cancels (waiving fees)
// the reservations it confirmed or may have confirmed, then refunds what was captured and
// voids what is still authorized. Every call uses a request id derived from the saga, so
// a resumed compensation repeats nothing.
func (r *Runner) compensate(ctx context.Context, s *Saga) error {
	var wg sync.WaitGroup
	callErrs := make([]error, len(s.Progress.Batches))
	for i, b := range s.Progress.Batches {
		ids := b.maybeConfirmed()
		if b.Cancelled || len(ids) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			callErrs[i] = r.call(ctx, func(ctx context.Context) error {
				_, err := r.res.Cancel(ctx, b.Provider, ids, s.RequestID("cancel", b.Provider, b.Chunk), "payment failed", true)
				return err
			})
		}()
	}
	wg.Wait()
	if err := r.hook(ctx, s, "compensate:cancel_sent"); err != nil {
		return err
	}
	var pendingErr error
	for i := range s.Progress.Batches {
		b := &s.Progress.Batches[i]
		switch err := callErrs[i]; {
		case b.Cancelled:
		case err != nil && retryable(err):
			pendingErr = err
		default:
			// Cancelled, nothing to cancel, or refused for good (then an operator must
			// look: the reason stays in the log).
			if err != nil {
				r.opts.Logger.Error("compensating cancellation refused", slog.String("saga", s.ID), slog.String("provider", b.Provider), slog.Any("error", err))
			}
			b.Cancelled = true
		}
	}
	if err := r.save(ctx, s, false, 0); err != nil {
		return err
	}
	if pendingErr != nil {
		return &transientError{pendingErr}
	}
	for i := 0; !s.Progress.PaymentSettled; i++ {
		if i == 4 {
			return &transientError{errors.New("the payment still holds money; trying again")}
		}
		if err := r.settlePayment(ctx, s); err != nil {
			return err
		}
	}
	s.State, s.EndTime = SagaFailed, r.svc.now()
	if err := r.save(ctx, s, false, 0); err != nil {
		return err
	}
	return r.hook(ctx, s, "compensate:done")
}

// settlePayment takes one action towards a payment with nothing held or captured.
func (r *Runner) settlePayment(ctx context.Context, s *Saga) error {
	if s.PaymentID == "" {
		s.Progress.PaymentSettled = true
		return nil
	}
	var p Payment
	err := r.call(ctx, func(ctx context.Context) (err error) {
		p, err = r.pay.Payment(ctx, s.PaymentID)
		return err
	})
	if err != nil {
		if retryable(err) {
			return &transientError{err}
		}
		return err
	}
	const reason = "bill payment failed"
	switch p.Status {
	case PaymentAuthorized, PaymentPartiallyCaptured:
		err = r.call(ctx, func(ctx context.Context) error {
			_, err := r.pay.Void(ctx, s.PaymentID, reason, s.RequestID("void", s.Progress.PaymentTries))
			return err
		})
	case PaymentCaptured, PaymentPartiallyRefunded:
		err = r.call(ctx, func(ctx context.Context) error {
			_, err := r.pay.Refund(ctx, s.PaymentID, reason, s.RequestID("refund", s.Progress.PaymentTries))
			return err
		})
	case PaymentPendingReconciliation:
		_, err = r.reconcile(ctx, s)
		return err
	default: // VOIDED, REFUNDED or FAILED: nothing held, nothing kept.
		s.Progress.PaymentSettled = true
		if err := r.save(ctx, s, false, 0); err != nil {
			return err
		}
		return r.hook(ctx, s, "compensate:payment_settled")
	}
	if err := r.hook(ctx, s, "compensate:payment_sent"); err != nil {
		return err
	}
	switch {
	case err == nil:
		// Look again: the payment may need a second action (a void that left a captured
		// part to refund) or a reconciliation.
		s.Progress.PaymentTries++
		return r.save(ctx, s, false, 0)
	case retryable(err):
		return &transientError{err}
	case errors.Is(err, errs.FailedPrecondition):
		// The payment changed under us (for example it became pending); look again later.
		return &transientError{err}
	}
	return err
}

// paymentStatusName names a payment status for messages.
func paymentStatusName(st PaymentStatus) string {
	switch st {
	case PaymentAuthorized:
		return "authorized"
	case PaymentPartiallyCaptured:
		return "partially captured"
	case PaymentCaptured:
		return "captured"
	case PaymentPartiallyRefunded:
		return "partially refunded"
	case PaymentRefunded:
		return "refunded"
	case PaymentVoided:
		return "voided"
	case PaymentFailed:
		return "failed"
	case PaymentPendingReconciliation:
		return "pending reconciliation"
	}
	return "in an unknown state"
}
