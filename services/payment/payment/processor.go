package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/money"
)

// Processor is the adapter to a card processor. Every call that moves money carries Reference,
// the payment service's operation id, which the processor records with the operation so that
// Lookup can later say what happened to it.
//
// Error contract: ErrProcessorUnavailable (possibly wrapped) means the request was not sent and
// nothing happened; the call may be made again. Any other error, or a Result whose Outcome is
// OutcomeUnknown, means the outcome is unknown: the processor may or may not have performed the
// operation, and only Lookup can tell.
type Processor interface {
	// Name names the adapter, for example "simulator"; it is stored with methods and payments.
	Name() string
	// Tokenize exchanges raw card data for a token issued for customerID: the processor
	// records the customer with the token, and DescribeToken reports it. A card the processor
	// refuses fails with a *DeclineError.
	Tokenize(ctx context.Context, customerID string, card Card) (TokenInfo, error)
	// DescribeToken returns what the processor knows about a token it issued earlier,
	// including the customer it was issued for (TokenInfo.CustomerID); ErrUnknownToken when it
	// issued no such token. The service attaches a token only to the customer it was issued
	// for.
	DescribeToken(ctx context.Context, token string) (TokenInfo, error)
	// DeleteToken deletes a token at the processor; deleting a deleted token succeeds.
	DeleteToken(ctx context.Context, token string) error
	// Authorize holds req.Amount on the card of req.Token.
	Authorize(ctx context.Context, req Request) (Result, error)
	// Capture captures req.Amount of the authorization req.AuthorizationReference.
	Capture(ctx context.Context, req Request) (Result, error)
	// Void releases the uncaptured rest of the authorization req.AuthorizationReference.
	Void(ctx context.Context, req Request) (Result, error)
	// Refund returns req.Amount of the captured money of req.AuthorizationReference.
	Refund(ctx context.Context, req Request) (Result, error)
	// Lookup reports what the processor did with the operation it received with reference:
	// Found is false when it never received it.
	Lookup(ctx context.Context, reference string) (LookupResult, error)
	// Settle submits a day's settlement batch and returns the processor's reference for it.
	// Submitting the same batch id again returns the same reference.
	Settle(ctx context.Context, batch SettlementBatch) (string, error)
}

// Errors a Processor returns.
var (
	// ErrProcessorUnavailable means the request was not sent: nothing happened.
	ErrProcessorUnavailable = errors.New("processor unavailable")
	// ErrOutcomeUnknown means the processor did not answer in time: the operation may or may
	// not have been performed.
	ErrOutcomeUnknown = errors.New("processor did not answer in time; outcome unknown")
	// ErrUnknownToken means the processor issued no such token.
	ErrUnknownToken = errors.New("unknown processor token")
)

// DeclineError is the processor's refusal to tokenize a card.
type DeclineError struct {
	// Code is the processor's decline code, for example "card_declined".
	Code string
	// Message is safe to show to the customer.
	Message string
}

// Error returns the code and message.
func (e *DeclineError) Error() string { return fmt.Sprintf("declined (%s): %s", e.Code, e.Message) }

// TokenInfo is what the processor reports about a token: never the card number.
type TokenInfo struct {
	// Token is the opaque token.
	Token string
	// CustomerID is the customer the token was issued for. Empty only for a processor's
	// public test tokens (the simulator's tok_sim_*), which any customer may attach.
	CustomerID string
	// Brand is the card network.
	Brand Brand
	// Last4 is the card number's last four digits.
	Last4 string
	// ExpiryMonth is from 1 to 12.
	ExpiryMonth int
	// ExpiryYear has four digits.
	ExpiryYear int
}

// Request is one money-moving call to the processor.
type Request struct {
	// Reference is the payment service's operation id; the processor records it for Lookup.
	Reference string
	// Token is the payment method's token (Authorize).
	Token string
	// AuthorizationReference is the processor's reference of the authorization (Capture, Void,
	// Refund).
	AuthorizationReference string
	// Amount is the amount to authorize, capture, release or refund.
	Amount money.Money
}

// Outcome is what happened to an operation at the processor.
type Outcome int

// The outcomes.
const (
	// OutcomeUnknown means the processor did not say: it may or may not have performed it.
	OutcomeUnknown Outcome = iota
	// OutcomeSucceeded means the processor performed the operation.
	OutcomeSucceeded
	// OutcomeDeclined means the processor refused the operation; nothing moved.
	OutcomeDeclined
)

// Result is the processor's answer to an operation.
type Result struct {
	// Outcome is what happened.
	Outcome Outcome
	// Reference is the processor's reference for the operation (for Authorize, the
	// authorization's reference that later operations pass).
	Reference string
	// DeclineCode is the processor's decline code when declined.
	DeclineCode string
	// Message explains a decline, safe to show to the customer.
	Message string
}

// LookupResult is the processor's record of an operation.
type LookupResult struct {
	// Found is false when the processor never received the operation.
	Found bool
	// Result is the operation's outcome when Found; OutcomeUnknown while it is still processing.
	Result Result
}

// SettlementBatch is what a settlement submits to the processor.
type SettlementBatch struct {
	// ID is the settlement id; the processor treats a repeated id as the same batch.
	ID string
	// Date is the settled date.
	Date time.Time
	// Totals are the totals per currency.
	Totals []SettlementTotal
}
