package billing

import (
	"context"
	"slices"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/money"
)

// Balance is what a customer owes across all bills.
type Balance struct {
	// CustomerID is the customer.
	CustomerID string
	// Outstanding is the totals per currency of FINALIZED or FAILED bills.
	Outstanding []money.Money
	// Open is the totals per currency of OPEN bills.
	Open []money.Money
	// UnpaidCount is the number of FINALIZED or FAILED bills.
	UnpaidCount int
	// OldestUnpaid is the finalize time of the oldest of them; zero when none.
	OldestUnpaid time.Time
	// ComputeTime is when the balance was computed.
	ComputeTime time.Time
}

// StandingLevel is a customer's account standing. Its values equal
// waybill.billing.v1.Standing.
type StandingLevel int32

// The standings, from best to worst.
const (
	StandingUnspecified StandingLevel = 0
	StandingGood        StandingLevel = 1
	StandingPastDue     StandingLevel = 2
	StandingBlocked     StandingLevel = 3
)

// The reasons of a standing other than GOOD.
const (
	ReasonPaymentFailed   = "BILL_PAYMENT_FAILED"
	ReasonOverdue         = "BILL_OVERDUE"
	ReasonOverdueTooLong  = "BILL_OVERDUE_TOO_LONG"
	maxOverdueBillIDs     = 20
	standingReasonBlocked = "A bill has been unpaid for too long; pay it to book again."
)

// Standing says whether a customer may take on more charges.
type Standing struct {
	// CustomerID is the customer.
	CustomerID string
	// Level is the standing.
	Level StandingLevel
	// ReasonCode is empty for GOOD, else one of the Reason… constants above.
	ReasonCode string
	// Reason is a human-readable reason, empty for GOOD.
	Reason string
	// Outstanding is as in Balance.
	Outstanding []money.Money
	// OverdueBillIDs are the bills causing a standing other than GOOD, oldest first.
	OverdueBillIDs []string
	// ComputeTime is when the standing was computed.
	ComputeTime time.Time
}

// checkCustomer validates customerID and the caller's right to see it.
func checkCustomer(c caller.Caller, customerID string) error {
	if err := validateID("customer_id", customerID); err != nil {
		return err
	}
	if err := requireCaller(c); err != nil {
		return err
	}
	if !c.MayAccess(customerID) {
		return denied("a customer may see only their own account")
	}
	return nil
}

// unpaid returns the customer's FINALIZED and FAILED bills, oldest finalized first, and
// the OPEN ones.
func (s *Service) unpaid(ctx context.Context, customerID string, withOpen bool) (unpaid, open []Bill, err error) {
	statuses := []Status{StatusFinalized, StatusFailed}
	if withOpen {
		statuses = append(statuses, StatusOpen)
	}
	bills, err := s.store.CustomerBills(ctx, customerID, statuses)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range bills {
		if b.Status == StatusOpen {
			open = append(open, b)
		} else {
			unpaid = append(unpaid, b)
		}
	}
	slices.SortStableFunc(unpaid, func(a, b Bill) int { return a.FinalizeTime.Compare(b.FinalizeTime) })
	return unpaid, open, nil
}

// sumTotals adds the bills' totals per currency, ordered by currency.
func sumTotals(bills []Bill) []money.Money {
	var all Bill
	for _, b := range bills {
		for _, m := range b.Totals() {
			all.Items = append(all.Items, Item{Billed: m})
		}
	}
	all.FinalizeTime = time.Unix(1, 0) // sum the Billed amounts
	return all.Totals()
}

// CustomerBalance computes what a customer owes.
func (s *Service) CustomerBalance(ctx context.Context, c caller.Caller, customerID string) (Balance, error) {
	if err := checkCustomer(c, customerID); err != nil {
		return Balance{}, err
	}
	unpaid, open, err := s.unpaid(ctx, customerID, true)
	if err != nil {
		return Balance{}, err
	}
	bal := Balance{CustomerID: customerID, Outstanding: sumTotals(unpaid), Open: sumTotals(open),
		UnpaidCount: len(unpaid), ComputeTime: s.now()}
	if len(unpaid) > 0 {
		bal.OldestUnpaid = unpaid[0].FinalizeTime
	}
	return bal, nil
}

// AccountStanding derives a customer's standing from their unpaid bills: BLOCKED when one
// has been unpaid longer than the blocking period or holds an unpaid ride fare (ride.go),
// PAST_DUE when one failed or has been unpaid longer than the grace period, GOOD otherwise.
func (s *Service) AccountStanding(ctx context.Context, c caller.Caller, customerID string) (Standing, error) {
	if err := checkCustomer(c, customerID); err != nil {
		return Standing{}, err
	}
	unpaid, open, err := s.unpaid(ctx, customerID, true)
	if err != nil {
		return Standing{}, err
	}
	rides := unpaidRides(append(slices.Clone(unpaid), open...)) // ride.go
	now := s.now()
	st := Standing{CustomerID: customerID, Level: StandingGood, Outstanding: sumTotals(unpaid), ComputeTime: now}
	var blocked, overdue, failed []string
	for _, b := range unpaid {
		age := now.Sub(b.FinalizeTime)
		switch {
		case age > s.opts.Block:
			blocked = append(blocked, b.ID)
		case b.Status == StatusFailed:
			failed = append(failed, b.ID)
		case age > s.opts.Grace:
			overdue = append(overdue, b.ID)
		}
	}
	switch {
	case len(blocked) > 0:
		st.Level, st.ReasonCode, st.Reason, st.OverdueBillIDs = StandingBlocked, ReasonOverdueTooLong, standingReasonBlocked, blocked
	case len(rides) > 0:
		st.Level, st.ReasonCode, st.Reason, st.OverdueBillIDs = StandingBlocked, ReasonRideFareUnpaid, "A ride's fare is unpaid; pay it to ride again.", rides
	case len(failed) > 0:
		st.Level, st.ReasonCode, st.Reason, st.OverdueBillIDs = StandingPastDue, ReasonPaymentFailed, "A bill's payment failed; please pay it again.", failed
	case len(overdue) > 0:
		st.Level, st.ReasonCode, st.Reason, st.OverdueBillIDs = StandingPastDue, ReasonOverdue, "A bill is overdue; please pay it.", overdue
	}
	if len(st.OverdueBillIDs) > maxOverdueBillIDs {
		st.OverdueBillIDs = st.OverdueBillIDs[:maxOverdueBillIDs]
	}
	return st, nil
}
