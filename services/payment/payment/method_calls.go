package payment

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CreateMethodInput is a CreatePaymentMethod request: exactly one of Card and Token.
type CreateMethodInput struct {
	// CustomerID will own the method.
	CustomerID string
	// Card is raw card data to tokenize; never stored.
	Card *Card
	// Token is a token the processor issued earlier, at most 255 characters.
	Token string
	// RequestID is the optional idempotency key.
	RequestID string
}

func (in CreateMethodInput) validate(now time.Time) error {
	if in.CustomerID == "" {
		return invalid("customer_id", "is required")
	}
	if len(in.CustomerID) > 128 {
		return invalid("customer_id", "must be at most 128 characters")
	}
	switch {
	case in.Card == nil && in.Token == "":
		return invalid("source", "either card or processor_token is required")
	case in.Card != nil && in.Token != "":
		return invalid("source", "give either card or processor_token, not both")
	case in.Card != nil:
		if err := in.Card.validate("card", now); err != nil {
			return err
		}
	case len(in.Token) > 255:
		return invalid("processor_token", "must be at most 255 characters")
	}
	return validateRequestID(in.RequestID, false)
}

// CreateMethod tokenizes a card (or describes a token the processor issued) and stores the
// token with its display data. With a request id, a retry returns the stored first response and
// never tokenizes twice; the request, card data included, is kept only as a keyed hash.
func (s *Service) CreateMethod(ctx context.Context, in CreateMethodInput, enc Encode[PaymentMethod]) (Reply[PaymentMethod], error) {
	now := s.now()
	if err := in.validate(now); err != nil {
		return Reply[PaymentMethod]{}, err
	}
	if in.RequestID == "" {
		m, err := s.tokenize(ctx, in, NewID(), now)
		if err != nil {
			return Reply[PaymentMethod]{}, err
		}
		if err := s.store.InTx(ctx, func(tx Tx) error { return tx.InsertMethod(ctx, m) }); err != nil {
			return Reply[PaymentMethod]{}, fmt.Errorf("insert payment method: %w", err)
		}
		return Reply[PaymentMethod]{Value: m}, nil
	}
	h := s.hasher(methodCreateMethod).str(in.CustomerID)
	if in.Card != nil {
		c := in.Card
		h.str("card").str(c.Number).num(int64(c.ExpiryMonth)).num(int64(c.ExpiryYear)).str(c.CVC).str(c.HolderName)
	} else {
		h.str("token").str(in.Token)
	}
	// Keys are scoped to the customer too: one customer's key never meets another's.
	c, err := s.claimKey(ctx, methodCreateMethod+"/"+in.CustomerID, in.RequestID, h.sum(), NewID(), "")
	if err != nil {
		return Reply[PaymentMethod]{}, err
	}
	if c.replay != nil {
		return Reply[PaymentMethod]{Replay: c.replay.Response}, nil
	}
	m, err := s.tokenize(ctx, in, c.key.ResourceID, now)
	if err != nil {
		if recordable(err) {
			return Reply[PaymentMethod]{}, recordError(ctx, s, c, enc, err)
		}
		s.abandon(ctx, c)
		return Reply[PaymentMethod]{}, err
	}
	if err := s.afterProcessor(ctx, methodCreateMethod); err != nil {
		return Reply[PaymentMethod]{}, err
	}
	body, err := enc(m, nil)
	if err != nil {
		s.abandon(ctx, c)
		return Reply[PaymentMethod]{}, fmt.Errorf("encode response: %w", err)
	}
	k := c.key
	k.Response, k.Completed = body, true
	cctx, cancel := commitContext(ctx)
	defer cancel()
	err = s.store.InTx(cctx, func(tx Tx) error {
		if err := tx.InsertMethod(cctx, m); err != nil {
			return fmt.Errorf("insert payment method: %w", err)
		}
		return tx.CompleteKey(cctx, k)
	})
	if errors.Is(err, ErrKeyLost) {
		return Reply[PaymentMethod]{}, errInProgress()
	}
	if err != nil {
		return Reply[PaymentMethod]{}, err
	}
	return Reply[PaymentMethod]{Value: m}, nil
}

// tokenize asks the processor for the token and display data of in's card or token.
func (s *Service) tokenize(ctx context.Context, in CreateMethodInput, id string, now time.Time) (PaymentMethod, error) {
	pctx, cancel := context.WithTimeout(ctx, s.opts.ProcessorTimeout)
	defer cancel()
	var info TokenInfo
	var err error
	if in.Card != nil {
		info, err = s.proc.Tokenize(pctx, *in.Card)
	} else {
		info, err = s.proc.DescribeToken(pctx, in.Token)
	}
	var de *DeclineError
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownToken):
		return PaymentMethod{}, &FieldError{Field: "processor_token", Reason: ReasonUnknownProcessorToken,
			Description: "the processor issued no such token"}
	case errors.As(err, &de):
		return PaymentMethod{}, &PreconditionError{Reason: ReasonCardDeclined, DeclineCode: de.Code,
			Message: "the processor refused the card: " + de.Message}
	default:
		// Tokenizing again is harmless, so an unknown outcome is as good as nothing sent.
		return PaymentMethod{}, fmt.Errorf("%w: tokenize: %w", ErrUnavailable, err)
	}
	return PaymentMethod{
		ID: id, CustomerID: in.CustomerID, Processor: s.proc.Name(), Token: info.Token,
		Brand: info.Brand, Last4: info.Last4, ExpiryMonth: info.ExpiryMonth, ExpiryYear: info.ExpiryYear,
		Status: MethodActive, CreateTime: now, UpdateTime: now, Version: 1,
	}, nil
}

// GetMethod returns a payment method.
func (s *Service) GetMethod(ctx context.Context, id string) (PaymentMethod, error) {
	if err := requireID("payment_method_id", id); err != nil {
		return PaymentMethod{}, err
	}
	return s.store.GetMethod(ctx, id)
}

// ListMethods returns one page of payment methods matching f, newest first, and the next
// page's token.
func (s *Service) ListMethods(ctx context.Context, f MethodFilter, page Page) ([]PaymentMethod, string, error) {
	limit, err := page.limit()
	if err != nil {
		return nil, "", err
	}
	filter := fingerprint("methods", f.CustomerID, f.Statuses)
	tok, err := decodePageToken(page.Token, filter)
	if err != nil {
		return nil, "", err
	}
	var after *Cursor
	if tok != nil {
		after = &Cursor{Time: tok.Time, ID: tok.ID}
	}
	ms, err := s.store.ListMethods(ctx, f, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ms) > limit {
		ms = ms[:limit]
		last := ms[limit-1]
		next = encodePageToken(pageToken{Filter: filter, Time: last.CreateTime, ID: last.ID})
	}
	return ms, next, nil
}

// DisableMethod disables a payment method for new authorizations and deletes its token at the
// processor, best effort (the background work retries). Disabling a disabled method returns it
// unchanged.
func (s *Service) DisableMethod(ctx context.Context, id string) (PaymentMethod, error) {
	if err := requireID("payment_method_id", id); err != nil {
		return PaymentMethod{}, err
	}
	m, err := s.store.DisableMethod(ctx, id, s.now())
	if err != nil {
		return PaymentMethod{}, err
	}
	s.deleteToken(ctx, m)
	return m, nil
}

// deleteToken deletes a disabled method's token at the processor and records it; failures are
// logged and retried by the background work.
func (s *Service) deleteToken(ctx context.Context, m PaymentMethod) {
	pctx, cancel := context.WithTimeout(ctx, s.opts.ProcessorTimeout)
	defer cancel()
	if err := s.proc.DeleteToken(pctx, m.Token); err != nil {
		s.log.Warn("delete token at the processor; will retry", "payment_method_id", m.ID, "error", err)
		return
	}
	if err := s.store.MarkTokenDeleted(ctx, m.ID); err != nil {
		s.log.Warn("record token deletion", "payment_method_id", m.ID, "error", err)
	}
}
