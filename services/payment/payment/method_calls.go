package payment

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/page"
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
		return errs.Invalid("customer_id", "is required")
	}
	if len(in.CustomerID) > 128 {
		return errs.Invalid("customer_id", "must be at most 128 characters")
	}
	switch {
	case in.Card == nil && in.Token == "":
		return errs.Invalid("source", "either card or processor_token is required")
	case in.Card != nil && in.Token != "":
		return errs.Invalid("source", "give either card or processor_token, not both")
	case in.Card != nil:
		if err := in.Card.validate("card", now); err != nil {
			return err
		}
	case len(in.Token) > 255:
		return errs.Invalid("processor_token", "must be at most 255 characters")
	}
	return idempotency.CheckRequestID(in.RequestID, false)
}

// CreateMethod tokenizes a card (or describes a token the processor issued) and stores the
// token with its display data. Customers add methods only for themselves. With a request id,
// a retry returns the first call's result and never tokenizes twice; the request, card data
// included, is kept only as a keyed hash.
func (s *Service) CreateMethod(ctx context.Context, c caller.Caller, in CreateMethodInput) (PaymentMethod, error) {
	if err := requireCaller(c); err != nil {
		return PaymentMethod{}, err
	}
	switch {
	case c.Privileged():
	case c.Role != caller.Customer:
		return PaymentMethod{}, errs.Denied("", "only customers, services and operators may add payment methods")
	case in.CustomerID != "" && in.CustomerID != c.Subject:
		return PaymentMethod{}, errs.NotSettable("customer_id", "customers may only add payment methods for themselves")
	}
	now := s.now()
	if err := in.validate(now); err != nil {
		return PaymentMethod{}, err
	}
	params := []string{in.CustomerID, "token", in.Token}
	if cd := in.Card; cd != nil {
		params = []string{in.CustomerID, "card", cd.Number, strconv.Itoa(cd.ExpiryMonth), strconv.Itoa(cd.ExpiryYear), cd.CVC, cd.HolderName}
	}
	cl, err := s.acquire(ctx, s.key(methodCreateMethod, c, in.RequestID, params...), memo{ResourceID: NewID()})
	if err != nil {
		return PaymentMethod{}, err
	}
	if cl.Replayed {
		m, err := decodeResult[PaymentMethod](cl.Result)
		return masked(m), err
	}
	m, err := s.tokenize(ctx, in, cl.ResourceID, now)
	if err != nil {
		if recordable(err) {
			return PaymentMethod{}, s.recordError(ctx, cl, err)
		}
		s.abandon(ctx, cl)
		return PaymentMethod{}, err
	}
	if err := s.afterProcessor(ctx, methodCreateMethod); err != nil {
		return PaymentMethod{}, err
	}
	var body []byte
	if !cl.keyless {
		if body, err = encodeValue(m); err != nil {
			s.abandon(ctx, cl)
			return PaymentMethod{}, err
		}
	}
	cctx, cancel := commitContext(ctx)
	defer cancel()
	err = s.store.Transact(cctx, func(tx Tx) error {
		if err := tx.InsertMethod(cctx, m); err != nil {
			return err
		}
		return tx.CompleteKey(cctx, cl.Lease, body, false)
	})
	if err != nil {
		return PaymentMethod{}, err
	}
	return masked(m), nil
}

// tokenize asks the processor for the token and display data of in's card or token.
func (s *Service) tokenize(ctx context.Context, in CreateMethodInput, id string, now time.Time) (PaymentMethod, error) {
	pctx, cancel := context.WithTimeout(ctx, s.opts.ProcessorTimeout)
	defer cancel()
	var info TokenInfo
	var err error
	if in.Card != nil {
		info, err = s.proc.Tokenize(pctx, in.CustomerID, *in.Card)
	} else {
		info, err = s.proc.DescribeToken(pctx, in.Token)
		if err == nil && info.CustomerID != "" && info.CustomerID != in.CustomerID {
			// Issued for another customer: refused exactly like a token the processor never
			// issued, so the answer does not tell that it exists.
			err = ErrUnknownToken
		}
	}
	var de *DeclineError
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownToken):
		e := errs.Invalid("processor_token", "the processor issued no such token")
		e.Reason = ReasonUnknownProcessorToken
		return PaymentMethod{}, e
	case errors.As(err, &de):
		return PaymentMethod{}, errs.Precondition(ReasonCardDeclined, "the processor refused the card: %s", de.Message).
			WithMetadata("decline_code", de.Code)
	default:
		// Tokenizing again is harmless, so an unknown outcome is as good as nothing sent.
		return PaymentMethod{}, errProcessorUnavailable("tokenize", err)
	}
	return PaymentMethod{
		ID: id, CustomerID: in.CustomerID, Processor: s.proc.Name(), Token: info.Token,
		Brand: info.Brand, Last4: info.Last4, ExpiryMonth: info.ExpiryMonth, ExpiryYear: info.ExpiryYear,
		Status: MethodActive, CreateTime: now, UpdateTime: now, Version: 1,
	}, nil
}

// GetMethod returns a payment method; another customer's is not found.
func (s *Service) GetMethod(ctx context.Context, c caller.Caller, id string) (PaymentMethod, error) {
	m, err := s.methodFor(ctx, c, id)
	if err != nil {
		return PaymentMethod{}, err
	}
	return masked(m), nil
}

// methodFor reads a method c may see; another customer's is not found.
func (s *Service) methodFor(ctx context.Context, c caller.Caller, id string) (PaymentMethod, error) {
	if err := requireCaller(c); err != nil {
		return PaymentMethod{}, err
	}
	if err := ids.Check("payment_method_id", id); err != nil {
		return PaymentMethod{}, err
	}
	m, err := s.store.GetMethod(ctx, id)
	if err != nil {
		return PaymentMethod{}, err
	}
	if !c.MayAccess(m.CustomerID) {
		return PaymentMethod{}, notFound("payment method", id)
	}
	return m, nil
}

// ListMethods returns one page of payment methods matching f, newest first, and the next
// page's token. Customers list only their own methods (f.CustomerID defaults to them).
func (s *Service) ListMethods(ctx context.Context, c caller.Caller, f MethodFilter, pg Page) ([]PaymentMethod, string, error) {
	customer, err := listCustomer(c, f.CustomerID)
	if err != nil {
		return nil, "", err
	}
	f.CustomerID = customer
	limit, err := pg.limit()
	if err != nil {
		return nil, "", err
	}
	filter := page.Fingerprint("methods", f.CustomerID, f.Statuses)
	var cur Cursor
	ok, err := pg.decodeCursor(filter, &cur, func() string { return cur.ID })
	if err != nil {
		return nil, "", err
	}
	var after *Cursor
	if ok {
		after = &cur
	}
	ms, err := s.store.ListMethods(ctx, f, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ms) > limit {
		ms = ms[:limit]
		last := ms[limit-1]
		next = page.Encode(Cursor{Time: last.CreateTime, ID: last.ID}, filter)
	}
	for i := range ms {
		ms[i] = masked(ms[i])
	}
	return ms, next, nil
}

// DisableMethod disables a payment method for new authorizations and deletes its token at the
// processor, best effort (the background work retries). Disabling a disabled method returns it
// unchanged; another customer's is not found.
func (s *Service) DisableMethod(ctx context.Context, c caller.Caller, id string) (PaymentMethod, error) {
	if _, err := s.methodFor(ctx, c, id); err != nil {
		return PaymentMethod{}, err
	}
	m, err := s.store.DisableMethod(ctx, id, s.now())
	if err != nil {
		return PaymentMethod{}, err
	}
	s.deleteToken(ctx, m)
	return masked(m), nil
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
