package account

import (
	"context"
	"fmt"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
)

// SuspendAccount suspends account id (ACTIVE → SUSPENDED) with reason; operators only.
// Suspending a suspended account changes nothing. It is idempotent by requestID.
func (s *Service) SuspendAccount(ctx context.Context, c caller.Caller, id, reason, requestID string) (Account, error) {
	if err := CheckID("account_id", id); err != nil {
		return Account{}, err
	}
	if err := mayOperate(c, "suspend accounts"); err != nil {
		return Account{}, err
	}
	if err := checkText("reason", reason, MaxReasonLength, true); err != nil {
		return Account{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Account{}, err
	}
	key := idempotencyKey("SuspendAccount", c, requestID, []string{id, reason})
	out, err := s.store.UpdateAccount(ctx, id, key, func(cur Account, _ Codes) (Change, error) {
		switch cur.Status {
		case StatusSuspended:
			return Change{Account: cur}, nil
		case StatusDeleted:
			return Change{}, deleted(id)
		}
		next := cur.clone()
		now := s.clock()
		next.Status, next.Version, next.UpdateTime = StatusSuspended, cur.Version+1, now
		next.Suspension = &Suspension{Reason: reason, SuspendTime: now, SuspendedBy: c.Subject}
		return Change{Account: next, Write: true, Events: []Event{{Type: EventSuspended, Account: next}}}, nil
	})
	if err != nil {
		return Account{}, fmt.Errorf("suspend account: %w", err)
	}
	return out.Account, nil
}

// ReinstateAccount lifts the suspension of account id (SUSPENDED → ACTIVE); operators
// only. Reinstating an active account changes nothing. It is idempotent by requestID.
func (s *Service) ReinstateAccount(ctx context.Context, c caller.Caller, id, reason, requestID string) (Account, error) {
	if err := CheckID("account_id", id); err != nil {
		return Account{}, err
	}
	if err := mayOperate(c, "reinstate accounts"); err != nil {
		return Account{}, err
	}
	if err := checkText("reason", reason, MaxReasonLength, false); err != nil {
		return Account{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Account{}, err
	}
	key := idempotencyKey("ReinstateAccount", c, requestID, []string{id, reason})
	out, err := s.store.UpdateAccount(ctx, id, key, func(cur Account, _ Codes) (Change, error) {
		switch cur.Status {
		case StatusActive:
			return Change{Account: cur}, nil
		case StatusDeleted:
			return Change{}, deleted(id)
		}
		next := cur.clone()
		now := s.clock()
		next.Status, next.Version, next.UpdateTime = StatusActive, cur.Version+1, now
		if next.Suspension != nil {
			next.Suspension.ReinstateTime, next.Suspension.ReinstateReason = now, reason
		}
		return Change{Account: next, Write: true, Events: []Event{{Type: EventReinstated, Account: next}}}, nil
	})
	if err != nil {
		return Account{}, fmt.Errorf("reinstate account: %w", err)
	}
	return out.Account, nil
}

// DeleteAccount erases account id's profile, contacts, preferences, sub-status and codes,
// leaving a DELETED tombstone; the customer themselves or an operator. Deleting a
// deleted account changes nothing. It is idempotent by requestID.
func (s *Service) DeleteAccount(ctx context.Context, c caller.Caller, id, requestID string) (Account, error) {
	if err := CheckID("account_id", id); err != nil {
		return Account{}, err
	}
	if c.Role == caller.Service {
		return Account{}, errs.Denied("", "only the customer and operators may delete an account")
	}
	if err := mayRead(c, id); err != nil {
		return Account{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Account{}, err
	}
	key := idempotencyKey("DeleteAccount", c, requestID, []string{id})
	out, err := s.store.UpdateAccount(ctx, id, key, func(cur Account, _ Codes) (Change, error) {
		if cur.Status == StatusDeleted {
			return Change{Account: cur}, nil
		}
		now := s.clock()
		next := Account{
			ID: cur.ID, Status: StatusDeleted, Suspension: cur.clone().Suspension,
			CreateTime: cur.CreateTime, UpdateTime: now, DeleteTime: now, Version: cur.Version + 1,
			Preferences: normalizePreferences(Preferences{}),
		}
		return Change{
			Account: next, Write: true, EraseCodes: true,
			Events: []Event{{Type: EventDeleted, Account: next, By: c.Subject}},
		}, nil
	})
	if err != nil {
		return Account{}, fmt.Errorf("delete account: %w", err)
	}
	return out.Account, nil
}
