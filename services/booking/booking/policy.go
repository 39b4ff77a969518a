package booking

import (
	"time"

	"github.com/waybill/waybill/kit/money"
)

// Policy says how much of a confirmed reservation's price is refunded on cancellation,
// depending on the notice given before the reservation's start.
type Policy struct {
	Rules []Rule
}

// Rule is one step of a policy: at least MinNotice before the start, RefundBps basis
// points of the price are refunded.
type Rule struct {
	MinNotice time.Duration `json:"min_notice"`
	RefundBps int           `json:"refund_bps"`
}

// Applicable returns the rule with the longest MinNotice that a cancellation at now
// satisfies for a start at start, or nil when none does.
func (p Policy) Applicable(start, now time.Time) *Rule {
	notice := start.Sub(now)
	var best *Rule
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.MinNotice <= notice && (best == nil || r.MinNotice > best.MinNotice) {
			best = r
		}
	}
	return best
}

// Refund returns what cancelling at now refunds of price for a start at start, the rule
// applied (nil when none applies: no refund), and when that answer stops holding (the
// moment the rule's notice runs out; zero when no rule applies). The refund is rounded
// down to a whole minor unit, so it never exceeds the policy's share.
func (p Policy) Refund(price money.Money, start, now time.Time) (money.Money, *Rule, time.Time) {
	r := p.Applicable(start, now)
	if r == nil {
		return money.Money{Currency: price.Currency}, nil, time.Time{}
	}
	amount := price.Amount * int64(r.RefundBps) / 10000
	rule := *r
	return money.Money{Amount: amount, Currency: price.Currency}, &rule, start.Add(-r.MinNotice)
}
