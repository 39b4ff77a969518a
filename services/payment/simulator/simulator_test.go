package simulator

import (
	"context"
	"errors"
	"testing"

	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/payment/payment"
)

func tokenize(t *testing.T, s *Simulator, number string) payment.TokenInfo {
	t.Helper()
	info, err := s.Tokenize(context.Background(), "cust-1", payment.Card{Number: number, ExpiryMonth: 12, ExpiryYear: 2040, CVC: "123"})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

var eur = func(n int64) money.Money { return money.New(n, "EUR") }

func TestAuthorizeByCard(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		number  string
		brand   payment.Brand
		outcome payment.Outcome
		decline string
		unknown bool
	}{
		{"4242424242424242", payment.BrandVisa, payment.OutcomeSucceeded, "", false},
		{"5555555555554444", payment.BrandMastercard, payment.OutcomeSucceeded, "", false},
		{"378282246310005", payment.BrandAmex, payment.OutcomeSucceeded, "", false},
		{"4000000000000002", payment.BrandVisa, payment.OutcomeDeclined, "card_declined", false},
		{"4000000000009995", payment.BrandVisa, payment.OutcomeDeclined, "insufficient_funds", false},
		{"4000000000000069", payment.BrandVisa, payment.OutcomeDeclined, "expired_card", false},
		{"4000000000000119", payment.BrandVisa, payment.OutcomeSucceeded, "", true},
		{"6011111111111117", payment.BrandDiscover, payment.OutcomeSucceeded, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			s := New()
			info := tokenize(t, s, tt.number)
			if info.Brand != tt.brand || info.Last4 != tt.number[len(tt.number)-4:] || info.ExpiryYear != 2040 {
				t.Fatalf("token info %+v", info)
			}
			res, err := s.Authorize(ctx, payment.Request{Reference: "op1", Token: info.Token, Amount: eur(100)})
			if tt.unknown {
				if !errors.Is(err, payment.ErrOutcomeUnknown) {
					t.Fatalf("want a timeout, got %+v, %v", res, err)
				}
			} else if err != nil || res.Outcome != tt.outcome || res.DeclineCode != tt.decline {
				t.Fatalf("Authorize = %+v, %v", res, err)
			}
			lr, err := s.Lookup(ctx, "op1")
			if err != nil || !lr.Found || lr.Result.Outcome != tt.outcome || lr.Result.DeclineCode != tt.decline {
				t.Fatalf("Lookup = %+v, %v", lr, err)
			}
		})
	}
}

func TestCaptureTimeoutIsPerformedAndCounted(t *testing.T) {
	ctx := context.Background()
	s := New()
	info := tokenize(t, s, "4000000000000259")
	auth, err := s.Authorize(ctx, payment.Request{Reference: "a", Token: info.Token, Amount: eur(100)})
	if err != nil || auth.Outcome != payment.OutcomeSucceeded {
		t.Fatal(auth, err)
	}
	if _, err := s.Capture(ctx, payment.Request{Reference: "c", AuthorizationReference: auth.Reference, Amount: eur(100)}); !errors.Is(err, payment.ErrOutcomeUnknown) {
		t.Fatalf("capture: %v", err)
	}
	st, _ := s.Authorization(auth.Reference)
	if st.CaptureCount != 1 || st.Captured != 100 {
		t.Fatalf("stats %+v", st)
	}
	if lr, _ := s.Lookup(ctx, "c"); !lr.Found || lr.Result.Outcome != payment.OutcomeSucceeded {
		t.Fatalf("lookup %+v", lr)
	}
	// The simulator does not deduplicate: a second capture is performed and counted.
	_, _ = s.Capture(ctx, payment.Request{Reference: "c", AuthorizationReference: auth.Reference, Amount: eur(100)})
	if st, _ := s.Authorization(auth.Reference); st.CaptureCount != 2 {
		t.Fatalf("count %d", st.CaptureCount)
	}
}

func TestLostTimeouts(t *testing.T) {
	ctx := context.Background()
	s := New()
	_, err := s.Authorize(ctx, payment.Request{Reference: "a", Token: "tok_sim_authorize_timeout_lost", Amount: eur(1)})
	if !errors.Is(err, payment.ErrOutcomeUnknown) {
		t.Fatal(err)
	}
	if lr, _ := s.Lookup(ctx, "a"); lr.Found || s.Authorizations() != 0 {
		t.Fatalf("a lost authorization was recorded: %+v", lr)
	}
	auth, _ := s.Authorize(ctx, payment.Request{Reference: "b", Token: "tok_sim_capture_timeout_lost", Amount: eur(1)})
	if _, err := s.Capture(ctx, payment.Request{Reference: "c", AuthorizationReference: auth.Reference, Amount: eur(1)}); !errors.Is(err, payment.ErrOutcomeUnknown) {
		t.Fatal(err)
	}
	if st, _ := s.Authorization(auth.Reference); st.CaptureCount != 0 {
		t.Fatal("a lost capture was performed")
	}
}

func TestUnavailableAndTokens(t *testing.T) {
	ctx := context.Background()
	s := New()
	if info, err := s.DescribeToken(ctx, "tok_sim_mastercard"); err != nil || info.Last4 != "4444" || info.Brand != payment.BrandMastercard {
		t.Fatal(info, err)
	}
	if _, err := s.DescribeToken(ctx, "tok_nope"); !errors.Is(err, payment.ErrUnknownToken) {
		t.Fatal(err)
	}
	s.SetUnavailable(true)
	if _, err := s.Authorize(ctx, payment.Request{Reference: "x", Token: "tok_sim_visa", Amount: eur(1)}); !errors.Is(err, payment.ErrProcessorUnavailable) {
		t.Fatal(err)
	}
	s.SetUnavailable(false)
	if s.Calls("authorize") != 0 {
		t.Fatal("a call made while down was counted")
	}
	if err := s.DeleteToken(ctx, "tok_sim_visa"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DescribeToken(ctx, "tok_sim_visa"); !errors.Is(err, payment.ErrUnknownToken) {
		t.Fatal("deleted token still known")
	}
	r1, _ := s.Settle(ctx, payment.SettlementBatch{ID: "s1"})
	r2, _ := s.Settle(ctx, payment.SettlementBatch{ID: "s1"})
	if r1 == "" || r1 != r2 {
		t.Fatal("settle not idempotent")
	}
}

// TestTokensRecordTheirCustomer: a token Tokenize issues records the customer it was issued
// for, and DescribeToken reports it; the public test tokens belong to no customer.
func TestTokensRecordTheirCustomer(t *testing.T) {
	ctx := context.Background()
	s := New()
	issued := tokenize(t, s, "4242424242424242")
	if issued.CustomerID != "cust-1" {
		t.Fatalf("Tokenize's token is for %q, want cust-1", issued.CustomerID)
	}
	if info, err := s.DescribeToken(ctx, issued.Token); err != nil || info.CustomerID != "cust-1" {
		t.Fatalf("DescribeToken = %+v, %v; want the token of cust-1", info, err)
	}
	if info, err := s.DescribeToken(ctx, "tok_sim_visa"); err != nil || info.CustomerID != "" {
		t.Fatalf("DescribeToken(tok_sim_visa) = %+v, %v; want a token of no customer", info, err)
	}
}
