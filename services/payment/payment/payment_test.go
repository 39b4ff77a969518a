package payment

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/page"
)

var t0 = time.Date(2030, 5, 10, 12, 0, 0, 0, time.UTC)

func authorized(amount int64) Payment {
	return Payment{ID: "p", Currency: "EUR", Authorized: amount, Status: StatusAuthorized, Version: 1,
		AuthorizationExpireTime: t0.Add(DefaultAuthorizationTTL)}
}

func withAmounts(p Payment, status Status, captured, refunded int64) Payment {
	p.Status, p.Captured, p.Refunded = status, captured, refunded
	return p
}

func TestApply(t *testing.T) {
	ok := Result{Outcome: OutcomeSucceeded, Reference: "ref"}
	decline := Result{Outcome: OutcomeDeclined, DeclineCode: "card_declined", Message: "no"}
	unknown := Result{Outcome: OutcomeUnknown}
	op := func(typ OperationType, amount int64) Operation {
		return Operation{ID: "op", PaymentID: "p", Type: typ, Status: OpInProgress, Amount: money.New(amount, "EUR")}
	}
	pending := func(p Payment, typ OperationType, amount int64) Payment {
		p.ResumeStatus, p.Status = p.Status, StatusPendingReconciliation
		p.BusyOperationID, p.BusyType, p.BusyAmount = "op", typ, amount
		return p
	}
	newAuth := Payment{ID: "p", Currency: "EUR", Authorized: 1000, AuthorizationExpireTime: t0.Add(time.Hour)}
	tests := []struct {
		name         string
		p            Payment
		op           Operation
		res          Result
		wantStatus   Status
		wantOp       OperationStatus
		wantCaptured int64
		wantRefunded int64
		wantEvent    string
	}{
		{"authorize succeeds", newAuth, op(OpAuthorize, 1000), ok, StatusAuthorized, OpSucceeded, 0, 0, EventAuthorized},
		{"authorize declined", newAuth, op(OpAuthorize, 1000), decline, StatusFailed, OpFailed, 0, 0, EventFailed},
		{"authorize unknown", newAuth, op(OpAuthorize, 1000), unknown, StatusPendingReconciliation, OpPending, 0, 0, ""},
		{"pending authorize resolved", pending(newAuth, OpAuthorize, 1000), op(OpAuthorize, 1000), ok, StatusAuthorized, OpSucceeded, 0, 0, EventAuthorized},
		{"pending authorize not processed", pending(newAuth, OpAuthorize, 1000), op(OpAuthorize, 1000), NotProcessed, StatusFailed, OpFailed, 0, 0, EventFailed},
		{"partial capture", authorized(1000), op(OpCapture, 400), ok, StatusPartiallyCaptured, OpSucceeded, 400, 0, EventCaptured},
		{"full capture", authorized(1000), op(OpCapture, 1000), ok, StatusCaptured, OpSucceeded, 1000, 0, EventCaptured},
		{"last partial capture", withAmounts(authorized(1000), StatusPartiallyCaptured, 400, 0), op(OpCapture, 600), ok, StatusCaptured, OpSucceeded, 1000, 0, EventCaptured},
		{"capture declined keeps status", withAmounts(authorized(1000), StatusPartiallyCaptured, 400, 0), op(OpCapture, 100), decline, StatusPartiallyCaptured, OpFailed, 400, 0, EventFailed},
		{"capture unknown", authorized(1000), op(OpCapture, 1000), unknown, StatusPendingReconciliation, OpPending, 0, 0, ""},
		{"pending capture resolved", pending(authorized(1000), OpCapture, 300), op(OpCapture, 300), ok, StatusPartiallyCaptured, OpSucceeded, 300, 0, EventCaptured},
		{"pending capture failed resumes", pending(authorized(1000), OpCapture, 300), op(OpCapture, 300), NotProcessed, StatusAuthorized, OpFailed, 0, 0, EventFailed},
		{"void authorized", authorized(1000), op(OpVoid, 1000), ok, StatusVoided, OpSucceeded, 0, 0, EventVoided},
		{"void partially captured", withAmounts(authorized(1000), StatusPartiallyCaptured, 400, 0), op(OpVoid, 600), ok, StatusCaptured, OpSucceeded, 400, 0, EventVoided},
		{"partial refund", withAmounts(authorized(1000), StatusCaptured, 1000, 0), op(OpRefund, 300), ok, StatusPartiallyRefunded, OpSucceeded, 1000, 300, EventRefunded},
		{"full refund", withAmounts(authorized(1000), StatusPartiallyRefunded, 1000, 300), op(OpRefund, 700), ok, StatusRefunded, OpSucceeded, 1000, 1000, EventRefunded},
		{"refund of partial capture ends capturing", withAmounts(authorized(1000), StatusPartiallyCaptured, 400, 0), op(OpRefund, 400), ok, StatusRefunded, OpSucceeded, 400, 400, EventRefunded},
		{"refund declined keeps status", withAmounts(authorized(1000), StatusCaptured, 1000, 0), op(OpRefund, 300), decline, StatusCaptured, OpFailed, 1000, 0, EventFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, op, events := Apply(tt.p, tt.op, tt.res, t0)
			if p.Status != tt.wantStatus || op.Status != tt.wantOp || p.Captured != tt.wantCaptured || p.Refunded != tt.wantRefunded {
				t.Fatalf("got status %s op %s captured %d refunded %d; want %s %s %d %d",
					p.Status, op.Status, p.Captured, p.Refunded, tt.wantStatus, tt.wantOp, tt.wantCaptured, tt.wantRefunded)
			}
			if p.Version != tt.p.Version+1 {
				t.Errorf("version %d, want %d", p.Version, tt.p.Version+1)
			}
			if tt.wantEvent == "" {
				if len(events) != 0 {
					t.Errorf("events %v, want none", events)
				}
				if p.BusyOperationID != "op" {
					t.Errorf("pending payment must stay busy with its operation")
				}
				return
			}
			if len(events) != 1 || events[0].Type != tt.wantEvent || events[0].Key != "p" || events[0].Operation.Status != op.Status {
				t.Fatalf("events %+v, want one %s", events, tt.wantEvent)
			}
			if p.BusyOperationID != "" || op.CompleteTime.IsZero() {
				t.Errorf("a resolved operation must free the payment and be complete")
			}
			if keep := p.Status == StatusAuthorized || p.Status == StatusPartiallyCaptured; keep == p.AuthorizationExpireTime.IsZero() {
				t.Errorf("authorization expiry %v with status %s", p.AuthorizationExpireTime, p.Status)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	expired := authorized(1000)
	expired.AuthorizationExpireTime = t0.Add(-time.Second)
	tests := []struct {
		name   string
		p      Payment
		typ    OperationType
		amount int64
		want   int64
		reason string
	}{
		{"capture all", authorized(1000), OpCapture, 0, 1000, ""},
		{"capture part", authorized(1000), OpCapture, 250, 250, ""},
		{"capture too much", withAmounts(authorized(1000), StatusPartiallyCaptured, 900, 0), OpCapture, 200, 0, ReasonExceedsCapturable},
		{"capture rest", withAmounts(authorized(1000), StatusPartiallyCaptured, 900, 0), OpCapture, 0, 100, ""},
		{"capture captured", withAmounts(authorized(1000), StatusCaptured, 1000, 0), OpCapture, 0, 0, ReasonNotCapturable},
		{"capture voided", withAmounts(authorized(1000), StatusVoided, 0, 0), OpCapture, 0, 0, ReasonNotCapturable},
		{"capture failed", withAmounts(authorized(1000), StatusFailed, 0, 0), OpCapture, 0, 0, ReasonNotCapturable},
		{"capture expired authorization", expired, OpCapture, 0, 0, ReasonNotCapturable},
		{"void authorized", authorized(1000), OpVoid, 0, 1000, ""},
		{"void partially captured", withAmounts(authorized(1000), StatusPartiallyCaptured, 300, 0), OpVoid, 0, 700, ""},
		{"void captured", withAmounts(authorized(1000), StatusCaptured, 1000, 0), OpVoid, 0, 0, ReasonNotVoidable},
		{"refund authorized", authorized(1000), OpRefund, 0, 0, ReasonNotRefundable},
		{"refund all", withAmounts(authorized(1000), StatusCaptured, 800, 0), OpRefund, 0, 800, ""},
		{"refund rest", withAmounts(authorized(1000), StatusPartiallyRefunded, 800, 500), OpRefund, 0, 300, ""},
		{"refund too much", withAmounts(authorized(1000), StatusPartiallyRefunded, 800, 500), OpRefund, 301, 0, ReasonExceedsRefundable},
		{"refund refunded", withAmounts(authorized(1000), StatusRefunded, 800, 800), OpRefund, 1, 0, ReasonNotRefundable},
		{"refund pending", withAmounts(authorized(1000), StatusPendingReconciliation, 800, 0), OpRefund, 1, 0, ReasonNotRefundable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.p, tt.typ, tt.amount, t0)
			switch {
			case tt.reason == "" && (err != nil || got != tt.want):
				t.Fatalf("Plan = %d, %v; want %d", got, err, tt.want)
			case tt.reason != "" && !errors.Is(err, &errs.Error{Kind: errs.FailedPrecondition, Reason: tt.reason}):
				t.Fatalf("Plan error %v, want reason %s", err, tt.reason)
			}
		})
	}
}

// fieldOf returns the one field an INVALID_ARGUMENT error names.
func fieldOf(err error) string {
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.InvalidArgument || len(e.Fields) != 1 {
		return ""
	}
	return e.Fields[0].Field
}

func TestCardValidate(t *testing.T) {
	good := Card{Number: "4242424242424242", ExpiryMonth: 12, ExpiryYear: 2031, CVC: "123"}
	mod := func(f func(*Card)) Card { c := good; f(&c); return c }
	tests := []struct {
		name  string
		card  Card
		field string
	}{
		{"good", good, ""},
		{"empty number", mod(func(c *Card) { c.Number = "" }), "card.number"},
		{"short number", mod(func(c *Card) { c.Number = "42424242424" }), "card.number"},
		{"spaces", mod(func(c *Card) { c.Number = "4242 4242 4242 4242" }), "card.number"},
		{"luhn", mod(func(c *Card) { c.Number = "4242424242424241" }), "card.number"},
		{"month 0", mod(func(c *Card) { c.ExpiryMonth = 0 }), "card.expiry_month"},
		{"month 13", mod(func(c *Card) { c.ExpiryMonth = 13 }), "card.expiry_month"},
		{"two-digit year", mod(func(c *Card) { c.ExpiryYear = 31 }), "card.expiry_year"},
		{"expired", mod(func(c *Card) { c.ExpiryYear, c.ExpiryMonth = 2030, 4 }), "card.expiry_year"},
		{"this month is fine", mod(func(c *Card) { c.ExpiryYear, c.ExpiryMonth = 2030, 5 }), ""},
		{"cvc short", mod(func(c *Card) { c.CVC = "12" }), "card.cvc"},
		{"cvc letters", mod(func(c *Card) { c.CVC = "12a" }), "card.cvc"},
		{"long name", mod(func(c *Card) { c.HolderName = strings.Repeat("x", 101) }), "card.cardholder_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.card.validate("card", t0)
			if got := fieldOf(err); got != tt.field || (tt.field == "") != (err == nil) {
				t.Fatalf("validate = %v (field %q), want field %q", err, got, tt.field)
			}
			if err != nil && strings.Contains(err.Error(), tt.card.Number) && tt.card.Number != "" {
				t.Fatalf("the error echoes the card number: %v", err)
			}
		})
	}
}

func TestCardIsNeverPrinted(t *testing.T) {
	c := Card{Number: "4242424242424242", ExpiryMonth: 12, ExpiryYear: 2031, CVC: "987"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "card", c, "ptr", &c)
	out := fmt.Sprintf("%v %+v %#v %s", c, c, c, c) + buf.String()
	if strings.Contains(out, c.Number) || strings.Contains(out, "987") {
		t.Fatalf("card data printed: %s", out)
	}
}

// The amounts of AuthorizePayment (and of captures and refunds, which share the rule) follow
// kit/money's one rule: a positive amount up to money.MaxAmount of an ISO 4217 currency.
func TestAuthorizeAmountValidate(t *testing.T) {
	tests := []struct {
		m     money.Money
		field string
	}{
		{money.New(100, "EUR"), ""},
		{money.New(1, "JPY"), ""},
		{money.New(money.MaxAmount, "EUR"), ""},
		{money.New(money.MaxAmount+1, "EUR"), "amount.amount_minor"},
		{money.New(0, "EUR"), "amount.amount_minor"},
		{money.New(-5, "EUR"), "amount.amount_minor"},
		{money.New(100, ""), "amount.currency_code"},
		{money.New(100, "eur"), "amount.currency_code"},
		{money.New(100, "ABC"), "amount.currency_code"},
		{money.New(100, "ZZZ"), "amount.currency_code"},
		{money.New(100, "EURO"), "amount.currency_code"},
	}
	for _, tt := range tests {
		in := AuthorizeInput{MethodID: NewID(), Amount: tt.m, RequestID: "r"}
		if got := fieldOf(in.validate()); got != tt.field {
			t.Errorf("%+v: field %q, want %q", tt.m, got, tt.field)
		}
		o := opSpec{paymentID: NewID(), amount: &tt.m, requestID: "r"}
		if got := fieldOf(o.validate()); got != tt.field {
			t.Errorf("capture or refund of %+v: field %q, want %q", tt.m, got, tt.field)
		}
	}
}

func TestValidateRequestID(t *testing.T) {
	for id, ok := range map[string]bool{"a": true, strings.Repeat("k", 128): true, strings.Repeat("k", 129): false,
		"tab\there": false, "é": false, "": false, "with space ~": true} {
		in := AuthorizeInput{MethodID: NewID(), Amount: money.New(1, "EUR"), RequestID: id}
		if err := in.validate(); (err == nil) != ok || (!ok && fieldOf(err) != "request_id") {
			t.Errorf("request id %q: %v, want ok %v", id, err, ok)
		}
	}
	if err := (CreateMethodInput{CustomerID: "c", Token: "tok"}).validate(t0); err != nil {
		t.Errorf("an optional empty request id must pass: %v", err)
	}
}

// The result stored with a key replays as the first call answered: the value, or the domain
// error with its kind, reason, message, fields and metadata (a decline code).
func TestStoredResultRoundTrip(t *testing.T) {
	res := OperationResult{
		Payment: Payment{ID: NewID(), Currency: "EUR", Authorized: 900, Status: StatusFailed, CreateTime: t0,
			DeclineCode: "card_declined", Timeline: []Operation{{ID: NewID(), Amount: money.New(900, "EUR"), CreateTime: t0}}},
		Operation: Operation{ID: NewID(), Type: OpAuthorize, Status: OpFailed, Amount: money.New(900, "EUR"), CreateTime: t0},
	}
	b, err := encodeValue(res)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeResult[OperationResult](b)
	if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", res) {
		t.Fatalf("decoded %+v, %v\nwant %+v", got, err, res)
	}
	declined := errs.Precondition(ReasonCardDeclined, "the processor refused the card").WithMetadata("decline_code", "card_declined")
	b, err = encodeError(fmt.Errorf("tokenize: %w", declined.WithCause(errors.New("the processor's words"))))
	if err != nil {
		t.Fatal(err)
	}
	_, err = decodeResult[PaymentMethod](b)
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.FailedPrecondition || e.Reason != ReasonCardDeclined || e.Message != declined.Message ||
		e.Metadata["decline_code"] != "card_declined" || e.Err != nil {
		t.Fatalf("decoded error %#v", err)
	}
	if _, err := encodeError(errors.New("not a domain error")); err == nil {
		t.Fatal("an unclassified error was stored")
	}
}

func TestTotals(t *testing.T) {
	op := func(pid string, typ OperationType, st OperationStatus, amount int64, cur string) Operation {
		return Operation{PaymentID: pid, Type: typ, Status: st, Amount: money.New(amount, cur)}
	}
	totals, payments := Totals([]Operation{
		op("a", OpCapture, OpSucceeded, 1000, "USD"),
		op("a", OpRefund, OpSucceeded, 300, "USD"),
		op("b", OpCapture, OpSucceeded, 500, "EUR"),
		op("b", OpCapture, OpFailed, 500, "EUR"),
		op("c", OpRefund, OpSucceeded, 200, "EUR"),
		op("d", OpVoid, OpSucceeded, 900, "EUR"),
	})
	want := []SettlementTotal{
		{Currency: "EUR", Captured: 500, Refunded: 200, CaptureCount: 1, RefundCount: 1},
		{Currency: "USD", Captured: 1000, Refunded: 300, CaptureCount: 1, RefundCount: 1},
	}
	if fmt.Sprint(totals) != fmt.Sprint(want) || payments != 3 {
		t.Fatalf("Totals = %v, %d; want %v, 3", totals, payments, want)
	}
	if totals[0].Net() != 300 {
		t.Errorf("net %d", totals[0].Net())
	}
}

// Page sizes follow the payment lists' limits; a token must be for the same filters and hold
// a cursor whose id can exist.
func TestPage(t *testing.T) {
	for size, want := range map[int]int{0: DefaultPageSize, 7: 7, 501: MaxPageSize} {
		if got, err := (Page{Size: size}).limit(); err != nil || got != want {
			t.Errorf("limit(%d) = %d, %v", size, got, err)
		}
	}
	if _, err := (Page{Size: -1}).limit(); fieldOf(err) != "page_size" {
		t.Error("negative page size accepted")
	}
	var cur Cursor
	read := func(tok, filter string) (bool, error) {
		cur = Cursor{}
		return Page{Token: tok}.decodeCursor(filter, &cur, func() string { return cur.ID })
	}
	want := Cursor{Time: t0, ID: NewID()}
	if ok, err := read(page.Encode(want, "f1"), "f1"); !ok || err != nil || !cur.Time.Equal(want.Time) || cur.ID != want.ID {
		t.Fatalf("decoded %+v, %v, %v", cur, ok, err)
	}
	if ok, err := read("", "f1"); ok || err != nil {
		t.Fatalf("first page: %v %v", ok, err)
	}
	for name, tok := range map[string]string{
		"other filters": page.Encode(want, "f2"),
		"bad id":        page.Encode(Cursor{Time: t0, ID: "x'; --"}, "f1"),
		"garbage":       "!!",
	} {
		if _, err := read(tok, "f1"); fieldOf(err) != "page_token" {
			t.Errorf("%s: %v, want page_token", name, err)
		}
	}
}

func TestDate(t *testing.T) {
	for d, ok := range map[Date]bool{{2024, 2, 29}: true, {2023, 2, 29}: false, {2024, 13, 1}: false, {0, 1, 1}: false, {2024, 4, 31}: false} {
		if d.Valid() != ok {
			t.Errorf("%v valid = %v", d, !ok)
		}
	}
	if s := (Date{2024, 3, 7}).String(); s != "2024-03-07" {
		t.Error(s)
	}
}

func TestNewID(t *testing.T) {
	id := NewID()
	if !ids.ValidUUID(id) || id == NewID() || id[14] != '4' {
		t.Fatalf("bad id %s", id)
	}
}
