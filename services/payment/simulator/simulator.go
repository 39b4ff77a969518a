// Package simulator is the payment service's built-in processor adapter: an in-memory card
// processor that needs no network and behaves by card number or test token, so that every
// outcome the service must handle (success, declines, timeouts whose operation did or did not
// happen) can be produced on purpose.
//
// Cards (the numbers PaymentService documents):
//
//	4242424242424242, 5555555555554444, 378282246310005  every operation succeeds
//	4000000000000002  authorizations are declined with "card_declined"
//	4000000000009995  authorizations are declined with "insufficient_funds"
//	4000000000000069  authorizations are declined with "expired_card"
//	4000000000000119  authorizations time out, but were performed (Lookup: authorized)
//	4000000000000259  authorizations succeed; captures time out, but were performed
//	any other Luhn-valid number succeeds
//
// Test tokens, for CreatePaymentMethod's processor_token: tok_sim_visa, tok_sim_mastercard,
// tok_sim_amex, tok_sim_card_declined, tok_sim_insufficient_funds, tok_sim_expired_card,
// tok_sim_authorize_timeout and tok_sim_capture_timeout (as the cards above), and
// tok_sim_authorize_timeout_lost and tok_sim_capture_timeout_lost (the operation times out and
// was NOT performed: Lookup finds nothing), tok_sim_void_timeout and tok_sim_refund_timeout
// (voids or refunds time out, but were performed). The test tokens belong to no customer, so
// any customer may attach them; a token Tokenize issues records the customer it was issued
// for, and DescribeToken reports it, so that the service attaches it to no one else.
//
// The simulator stands for an external processor: it keeps its own state, in memory, and
// records every operation under the reference the service sent, for Lookup. Unlike a careful
// processor it does not deduplicate repeated references nor enforce amount limits: every call
// it receives is performed and counted, so tests can prove the service itself never captures
// twice and never refunds more than it captured. It never keeps card numbers or security codes.
package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/payment/payment"
)

// Name is the adapter's name, stored with methods and payments.
const Name = "simulator"

// timeout says whether an operation times out, and if so whether it was performed.
type timeout int

const (
	noTimeout timeout = iota
	timeoutPerformed
	timeoutLost
)

// profile is how a card behaves.
type profile struct {
	authDecline    string
	authTimeout    timeout
	captureTimeout timeout
	voidTimeout    timeout
	refundTimeout  timeout
}

var cardProfiles = map[string]profile{
	"4000000000000002": {authDecline: "card_declined"},
	"4000000000009995": {authDecline: "insufficient_funds"},
	"4000000000000069": {authDecline: "expired_card"},
	"4000000000000119": {authTimeout: timeoutPerformed},
	"4000000000000259": {captureTimeout: timeoutPerformed},
}

// testToken is a token the simulator has issued from the start.
type testToken struct {
	number  string // only to derive brand and last four digits
	profile profile
}

var testTokens = map[string]testToken{
	"tok_sim_visa":                   {"4242424242424242", profile{}},
	"tok_sim_mastercard":             {"5555555555554444", profile{}},
	"tok_sim_amex":                   {"378282246310005", profile{}},
	"tok_sim_card_declined":          {"4000000000000002", cardProfiles["4000000000000002"]},
	"tok_sim_insufficient_funds":     {"4000000000009995", cardProfiles["4000000000009995"]},
	"tok_sim_expired_card":           {"4000000000000069", cardProfiles["4000000000000069"]},
	"tok_sim_authorize_timeout":      {"4000000000000119", cardProfiles["4000000000000119"]},
	"tok_sim_capture_timeout":        {"4000000000000259", cardProfiles["4000000000000259"]},
	"tok_sim_authorize_timeout_lost": {"4000000000000127", profile{authTimeout: timeoutLost}},
	"tok_sim_capture_timeout_lost":   {"4000000000000267", profile{captureTimeout: timeoutLost}},
	"tok_sim_void_timeout":           {"4000000000000275", profile{voidTimeout: timeoutPerformed}},
	"tok_sim_refund_timeout":         {"4000000000000283", profile{refundTimeout: timeoutPerformed}},
}

var declineMessages = map[string]string{
	"card_declined":      "The card was declined.",
	"insufficient_funds": "The card has insufficient funds.",
	"expired_card":       "The card has expired.",
}

// token is an issued token.
type token struct {
	info    payment.TokenInfo
	profile profile
	deleted bool
}

// authorization is an authorization the simulator performed.
type authorization struct {
	amount                    money.Money
	captured, refunded        int64
	captureCount, refundCount int
	voided                    bool
	profile                   profile
}

// record is what Lookup returns for a reference.
type record struct {
	result payment.Result
}

// Simulator is an in-memory processor. It is safe for concurrent use.
type Simulator struct {
	mu          sync.Mutex
	tokens      map[string]*token
	auths       map[string]*authorization
	records     map[string]record
	settlements map[string]string
	calls       map[string]int
	unavailable bool
	seq         int
}

// New returns a simulator that knows the test tokens.
func New() *Simulator {
	s := &Simulator{
		tokens:      map[string]*token{},
		auths:       map[string]*authorization{},
		records:     map[string]record{},
		settlements: map[string]string{},
		calls:       map[string]int{},
	}
	year := time.Now().Year() + 5
	for tok, t := range testTokens {
		s.tokens[tok] = &token{info: info(tok, t.number, 12, year), profile: t.profile}
	}
	return s
}

// Name returns "simulator".
func (s *Simulator) Name() string { return Name }

// SetUnavailable makes every call fail with payment.ErrProcessorUnavailable (nothing sent) while
// down is true.
func (s *Simulator) SetUnavailable(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = down
}

func info(tok, number string, month, year int) payment.TokenInfo {
	return payment.TokenInfo{Token: tok, Brand: brand(number), Last4: number[len(number)-4:], ExpiryMonth: month, ExpiryYear: year}
}

// brand derives the card network from the number's prefix.
func brand(n string) payment.Brand {
	p2, p4 := n[:2], n[:4]
	switch {
	case n[0] == '4':
		return payment.BrandVisa
	case p2 >= "51" && p2 <= "55", p4 >= "2221" && p4 <= "2720":
		return payment.BrandMastercard
	case p2 == "34", p2 == "37":
		return payment.BrandAmex
	case p4 == "6011", p2 == "65", n[:3] >= "644" && n[:3] <= "649":
		return payment.BrandDiscover
	case p2 == "35":
		return payment.BrandJCB
	case p2 == "62":
		return payment.BrandUnionPay
	case p2 == "36", p2 == "38", n[:3] >= "300" && n[:3] <= "305":
		return payment.BrandDiners
	}
	return payment.BrandOther
}

// enter starts a call: it counts it and fails when the simulator is down or the caller gave up
// before anything was sent. The caller holds s.mu.
func (s *Simulator) enter(ctx context.Context, call string) error {
	if s.unavailable {
		return fmt.Errorf("simulator is down: %w", payment.ErrProcessorUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", payment.ErrProcessorUnavailable, err)
	}
	s.calls[call]++
	return nil
}

func (s *Simulator) next(prefix string) string {
	s.seq++
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s_%d_%s", prefix, s.seq, hex.EncodeToString(b[:]))
}

// Tokenize issues a token for a Luhn-valid card of customerID, and records the customer
// with it. The number and security code are only used to pick the card's behavior, brand and
// last four digits, and are then forgotten.
func (s *Simulator) Tokenize(ctx context.Context, customerID string, card payment.Card) (payment.TokenInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, "tokenize"); err != nil {
		return payment.TokenInfo{}, err
	}
	if n := len(card.Number); n < 12 || n > 19 || !payment.Luhn(card.Number) {
		return payment.TokenInfo{}, &payment.DeclineError{Code: "invalid_number", Message: "The card number is not valid."}
	}
	tok := s.next("tok_sim")
	ti := info(tok, card.Number, card.ExpiryMonth, card.ExpiryYear)
	ti.CustomerID = customerID
	s.tokens[tok] = &token{info: ti, profile: cardProfiles[card.Number]}
	return s.tokens[tok].info, nil
}

// DescribeToken returns what the simulator knows of a token it issued, including the
// customer it was issued for (none for the test tokens).
func (s *Simulator) DescribeToken(ctx context.Context, tok string) (payment.TokenInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, "describe_token"); err != nil {
		return payment.TokenInfo{}, err
	}
	t, ok := s.tokens[tok]
	if !ok || t.deleted {
		return payment.TokenInfo{}, payment.ErrUnknownToken
	}
	return t.info, nil
}

// DeleteToken deletes a token; deleting an unknown or deleted token succeeds.
func (s *Simulator) DeleteToken(ctx context.Context, tok string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, "delete_token"); err != nil {
		return err
	}
	if t, ok := s.tokens[tok]; ok {
		t.deleted = true
	}
	return nil
}

// finish records the result of an operation under its reference and answers as the profile
// says: in time, after a timeout (performed), or not at all (lost).
func (s *Simulator) finish(ref string, res payment.Result, to timeout) (payment.Result, error) {
	if to == timeoutLost {
		return payment.Result{}, fmt.Errorf("simulator: %w", payment.ErrOutcomeUnknown)
	}
	if _, seen := s.records[ref]; !seen {
		s.records[ref] = record{result: res}
	}
	if to == timeoutPerformed {
		return payment.Result{}, fmt.Errorf("simulator: %w", payment.ErrOutcomeUnknown)
	}
	return res, nil
}

func declined(code string) payment.Result {
	return payment.Result{Outcome: payment.OutcomeDeclined, DeclineCode: code, Message: declineMessages[code]}
}

// Authorize holds an amount on a token's card.
func (s *Simulator) Authorize(ctx context.Context, req payment.Request) (payment.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, "authorize"); err != nil {
		return payment.Result{}, err
	}
	t, ok := s.tokens[req.Token]
	if !ok || t.deleted {
		return s.finish(req.Reference, payment.Result{Outcome: payment.OutcomeDeclined, DeclineCode: "invalid_token", Message: "The payment method is not known."}, noTimeout)
	}
	if t.profile.authTimeout == timeoutLost {
		return s.finish(req.Reference, payment.Result{}, timeoutLost)
	}
	if code := t.profile.authDecline; code != "" {
		return s.finish(req.Reference, declined(code), noTimeout)
	}
	ref := s.next("sim_auth")
	s.auths[ref] = &authorization{amount: req.Amount, profile: t.profile}
	return s.finish(req.Reference, payment.Result{Outcome: payment.OutcomeSucceeded, Reference: ref}, t.profile.authTimeout)
}

// Capture captures an amount of an authorization. It counts every capture it performs.
func (s *Simulator) Capture(ctx context.Context, req payment.Request) (payment.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, "capture"); err != nil {
		return payment.Result{}, err
	}
	a, res, ok := s.auth(req)
	if !ok {
		return s.finish(req.Reference, res, noTimeout)
	}
	if a.profile.captureTimeout == timeoutLost {
		return s.finish(req.Reference, payment.Result{}, timeoutLost)
	}
	a.captured += req.Amount.Amount
	a.captureCount++
	return s.finish(req.Reference, payment.Result{Outcome: payment.OutcomeSucceeded, Reference: s.next("sim_capture")}, a.profile.captureTimeout)
}

// Void releases the rest of an authorization.
func (s *Simulator) Void(ctx context.Context, req payment.Request) (payment.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, "void"); err != nil {
		return payment.Result{}, err
	}
	a, res, ok := s.auth(req)
	if !ok {
		return s.finish(req.Reference, res, noTimeout)
	}
	a.voided = true
	return s.finish(req.Reference, payment.Result{Outcome: payment.OutcomeSucceeded, Reference: s.next("sim_void")}, a.profile.voidTimeout)
}

// Refund returns captured money. It counts every refund it performs.
func (s *Simulator) Refund(ctx context.Context, req payment.Request) (payment.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, "refund"); err != nil {
		return payment.Result{}, err
	}
	a, res, ok := s.auth(req)
	if !ok {
		return s.finish(req.Reference, res, noTimeout)
	}
	a.refunded += req.Amount.Amount
	a.refundCount++
	return s.finish(req.Reference, payment.Result{Outcome: payment.OutcomeSucceeded, Reference: s.next("sim_refund")}, a.profile.refundTimeout)
}

// auth finds the authorization of req, or the decline to answer with.
func (s *Simulator) auth(req payment.Request) (*authorization, payment.Result, bool) {
	a, ok := s.auths[req.AuthorizationReference]
	if !ok {
		return nil, payment.Result{Outcome: payment.OutcomeDeclined, DeclineCode: "authorization_not_found", Message: "The authorization is not known."}, false
	}
	if req.Amount.Currency != a.amount.Currency {
		return nil, payment.Result{Outcome: payment.OutcomeDeclined, DeclineCode: "currency_mismatch", Message: "The currency differs from the authorization's."}, false
	}
	return a, payment.Result{}, true
}

// Lookup returns the recorded result of the operation sent with reference.
func (s *Simulator) Lookup(ctx context.Context, reference string) (payment.LookupResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, "lookup"); err != nil {
		return payment.LookupResult{}, err
	}
	r, ok := s.records[reference]
	if !ok {
		return payment.LookupResult{}, nil
	}
	return payment.LookupResult{Found: true, Result: r.result}, nil
}

// Settle accepts a settlement batch; the same batch id gets the same reference.
func (s *Simulator) Settle(ctx context.Context, batch payment.SettlementBatch) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, "settle"); err != nil {
		return "", err
	}
	if ref, ok := s.settlements[batch.ID]; ok {
		return ref, nil
	}
	ref := s.next("sim_payout")
	s.settlements[batch.ID] = ref
	return ref, nil
}

// Stats is what the simulator did for one authorization.
type Stats struct {
	// Amount is the authorized amount.
	Amount money.Money
	// Captured and Refunded are the totals performed; CaptureCount and RefundCount count the
	// calls performed.
	Captured, Refunded        int64
	CaptureCount, RefundCount int
	// Voided is true once a void was performed.
	Voided bool
}

// Authorization returns the stats of the authorization with the processor reference ref.
func (s *Simulator) Authorization(ref string) (Stats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.auths[ref]
	if !ok {
		return Stats{}, false
	}
	return Stats{Amount: a.amount, Captured: a.captured, Refunded: a.refunded, CaptureCount: a.captureCount,
		RefundCount: a.refundCount, Voided: a.voided}, true
}

// Authorizations returns the number of authorizations performed.
func (s *Simulator) Authorizations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.auths)
}

// Calls returns how many calls of a kind ("authorize", "capture", "void", "refund", "lookup",
// "tokenize", "describe_token", "delete_token", "settle") the simulator received while up.
func (s *Simulator) Calls(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[kind]
}

var _ payment.Processor = (*Simulator)(nil)
