package payment

import (
	"context"
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/idempotency"
)

// RunBackground does the service's periodic work every interval, starting one interval
// from now, until ctx ends: it reconciles
// payments whose operation outcome is unknown or whose attempt died, voids expired
// authorizations, retries token deletions, deletes expired idempotency keys, and settles the
// previous day once it is over. Every step is safe to run on several replicas at once.
func (s *Service) RunBackground(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.Tick(ctx)
	}
}

// Tick runs the periodic work once.
func (s *Service) Tick(ctx context.Context) {
	now := s.now()
	const batch = 100
	if ids, err := s.store.PaymentsToReconcile(ctx, now.Add(-s.opts.Lease), batch); err != nil {
		s.log.Warn("list payments to reconcile", "error", err)
	} else {
		for _, id := range ids {
			if _, err := s.reconcile(ctx, id); err != nil {
				s.log.Warn("reconcile payment", "payment_id", id, "error", err)
			}
		}
	}
	if ids, err := s.store.ExpiredAuthorizations(ctx, now, batch); err != nil {
		s.log.Warn("list expired authorizations", "error", err)
	} else {
		for _, id := range ids {
			if err := s.expireAuthorization(ctx, id); err != nil {
				s.log.Warn("void expired authorization", "payment_id", id, "error", err)
			}
		}
	}
	if ms, err := s.store.MethodsWithUndeletedTokens(ctx, batch); err != nil {
		s.log.Warn("list tokens to delete", "error", err)
	} else {
		for _, m := range ms {
			s.deleteToken(ctx, m)
		}
	}
	if _, err := s.store.PruneKeys(ctx); err != nil {
		s.log.Warn("delete expired idempotency keys", "error", err)
	}
	yesterday := DateOf(now.AddDate(0, 0, -1))
	if _, err := s.runSettlement(ctx, yesterday, "settlement-"+yesterday.String()); err != nil {
		s.log.Debug("daily settlement", "date", yesterday.String(), "error", err)
	}
}

// expireAuthorization voids the uncaptured rest of an expired authorization, as the service's
// own operation (no idempotency key), and sets the sub-status "authorization_expired".
func (s *Service) expireAuthorization(ctx context.Context, id string) error {
	cl, err := s.acquire(ctx, idempotency.Key{}, memo{ResourceID: id, OperationID: NewID()})
	if err != nil {
		return fmt.Errorf("expire authorization: %w", err)
	}
	_, err = s.execute(ctx, cl, opSpec{method: "ExpireAuthorization", typ: OpVoid, paymentID: id,
		reason: "authorization expired", subStatus: "authorization_expired"}, 0)
	if err != nil {
		return fmt.Errorf("expire authorization: %w", err)
	}
	return nil
}
