package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
)

// codeWindow is the period MaxCodesPerHour counts over.
const codeWindow = time.Hour

// newCode returns 6 uniformly random digits from crypto/rand.
func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(fmt.Sprintf("account: crypto/rand failed: %v", err)) // crypto/rand does not fail on Linux
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// hash returns the HMAC-SHA256 under which code codeID (plain) is stored: keyed by the
// service's secret, so a copy of the table alone does not reveal codes.
func (s *Service) hash(codeID, code string) []byte {
	m := hmac.New(sha256.New, s.opts.CodeSecret)
	m.Write([]byte(codeID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// void returns c without a current code, its issuance window kept (a change of address
// does not reset the rate limit).
func void(c Code) Code {
	return Code{AccountID: c.AccountID, Kind: c.Kind, WindowStart: c.WindowStart, WindowCount: c.WindowCount}
}

// SendVerificationCode issues a new code for account id's unverified contact k and emits
// it for delivery; the customer themselves, operators and services. It refuses a contact
// that is not set or already verified, and codes asked for sooner than
// Options.ResendInterval after the last one or beyond Options.MaxCodesPerHour an hour.
// It is idempotent by requestID (a retry issues no second code).
func (s *Service) SendVerificationCode(ctx context.Context, c caller.Caller, id string, k ContactKind, requestID string) (Sent, error) {
	if err := CheckID("account_id", id); err != nil {
		return Sent{}, err
	}
	if err := mayRead(c, id); err != nil {
		return Sent{}, err
	}
	if err := checkKind(k); err != nil {
		return Sent{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Sent{}, err
	}
	key := idempotencyKey("SendVerificationCode", c, requestID, []string{id, strconv.Itoa(int(k))})
	out, err := s.store.UpdateAccount(ctx, id, key, func(cur Account, codes Codes) (Change, error) {
		if cur.Status == StatusDeleted {
			return Change{}, deleted(id)
		}
		contact := cur.Contact(k)
		switch {
		case !contact.Set():
			return Change{}, errs.Precondition(ReasonContactNotSet, "account %s has no %s", id, k)
		case contact.Verified():
			return Change{}, errs.Precondition(ReasonContactAlreadyVerified, "the %s of account %s is verified", k, id)
		}
		now := s.clock()
		code, ok := codes[k]
		if !ok {
			code = Code{AccountID: id, Kind: k}
		}
		if code.WindowStart.IsZero() || !now.Before(code.WindowStart.Add(codeWindow)) {
			code.WindowStart, code.WindowCount = now, 0
		}
		if len(code.Hash) > 0 && now.Before(code.IssueTime.Add(s.opts.ResendInterval)) {
			return Change{}, rateLimited(now, code.IssueTime.Add(s.opts.ResendInterval))
		}
		if code.WindowCount >= s.opts.MaxCodesPerHour {
			return Change{}, rateLimited(now, code.WindowStart.Add(codeWindow))
		}
		plain := s.opts.NewCode()
		code.ID, code.Destination = ids.New(), contact.Address
		code.Hash = s.hash(code.ID, plain)
		code.IssueTime, code.ExpireTime = now, now.Add(s.opts.CodeTTL)
		code.Attempts, code.UsedTime = 0, time.Time{}
		code.WindowCount++
		resend := now.Add(s.opts.ResendInterval)
		if code.WindowCount >= s.opts.MaxCodesPerHour {
			resend = code.WindowStart.Add(codeWindow)
		}
		ev := Event{Type: EventCodeIssued, Account: cur, Kind: k, Issued: &IssuedCode{
			Code: plain, CodeID: code.ID, Destination: contact.Address, IssueTime: now, ExpireTime: code.ExpireTime,
		}}
		return Change{
			Account: cur, Codes: []Code{code}, Events: []Event{ev},
			Sent: &Sent{MaskedDestination: Mask(contact.Address), ExpireTime: code.ExpireTime, ResendTime: resend},
		}, nil
	})
	if err != nil {
		return Sent{}, fmt.Errorf("send verification code: %w", err)
	}
	if out.Sent == nil {
		return Sent{}, fmt.Errorf("send verification code: the stored outcome of request %q has no code", requestID)
	}
	return *out.Sent, nil
}

// VerifyContact verifies account id's contact k with code; the customer themselves,
// operators and services. The attempt is counted first, in a transaction of its own,
// then the code is checked: a code that was used, expired, tried too often or is wrong
// is refused. It is idempotent by requestID: a retry of a success returns the account
// instead of refusing the used code.
func (s *Service) VerifyContact(ctx context.Context, c caller.Caller, id string, k ContactKind, code, requestID string) (Account, error) {
	if err := CheckID("account_id", id); err != nil {
		return Account{}, err
	}
	if err := mayRead(c, id); err != nil {
		return Account{}, err
	}
	if err := checkKind(k); err != nil {
		return Account{}, err
	}
	if err := checkCode(code); err != nil {
		return Account{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Account{}, err
	}
	// The key's hash holds the code itself, keyed by the service's secret (the
	// idempotency table keeps no plain codes).
	key := idempotencyKey("VerifyContact", c, requestID, []string{id, strconv.Itoa(int(k))})
	key.Hash = s.hash("VerifyContact/"+id+"/"+strconv.Itoa(int(k)), code)
	if requestID != "" {
		out, found, err := s.store.Replay(ctx, key)
		if err != nil {
			return Account{}, fmt.Errorf("verify contact: %w", err)
		}
		if found {
			return out.Account, nil
		}
	}
	counted, err := s.store.CountAttempt(ctx, id, k)
	switch {
	case errors.Is(err, errs.NotFound):
		// No current code; the account may be missing, deleted or verified too: say what
		// holds.
		a, aerr := s.store.Account(ctx, id)
		if aerr != nil {
			return Account{}, fmt.Errorf("verify contact: %w", aerr)
		}
		return Account{}, noCode(a, k)
	case err != nil:
		return Account{}, fmt.Errorf("verify contact: %w", err)
	}
	if err := s.check(counted, code); err != nil {
		return Account{}, err
	}
	out, err := s.store.UpdateAccount(ctx, id, key, func(cur Account, codes Codes) (Change, error) {
		if cur.Status == StatusDeleted {
			return Change{}, deleted(id)
		}
		stored, ok := codes[k]
		switch {
		case !ok || stored.ID != counted.ID || len(stored.Hash) == 0:
			return Change{}, errs.Precondition(ReasonNoCode, "the code was replaced or voided meanwhile: ask for a new one")
		case !stored.UsedTime.IsZero():
			return Change{}, errs.Precondition(ReasonCodeUsed, "the code was used already")
		}
		contact := cur.Contact(k)
		if contact.Address != stored.Destination {
			return Change{}, errs.Precondition(ReasonNoCode, "the %s changed since the code was sent: ask for a new one", k)
		}
		if contact.Verified() {
			return Change{}, errs.Precondition(ReasonContactAlreadyVerified, "the %s of account %s is verified", k, id)
		}
		now := s.clock()
		next := cur.clone()
		next.Contact(k).VerifyTime = now
		next.Version, next.UpdateTime = cur.Version+1, now
		stored.UsedTime = now
		return Change{
			Account: next, Write: true, Codes: []Code{stored},
			Events: []Event{{Type: EventContactVerified, Account: next, Kind: k}},
		}, nil
	})
	if err != nil {
		return Account{}, fmt.Errorf("verify contact: %w", err)
	}
	return out.Account, nil
}

// check compares an attempt, already counted in c.Attempts, with code c: the limits
// first, then the code, in constant time.
func (s *Service) check(c Code, code string) error {
	now := s.clock()
	switch {
	case !c.UsedTime.IsZero():
		return errs.Precondition(ReasonCodeUsed, "the code was used already")
	case c.Attempts > s.opts.MaxAttempts:
		return errs.Exhausted(ReasonAttemptsExhausted, "the code was tried %d times: ask for a new one", s.opts.MaxAttempts)
	case !now.Before(c.ExpireTime):
		return errs.Precondition(ReasonCodeExpired, "the code expired: ask for a new one")
	case !hmac.Equal(s.hash(c.ID, code), c.Hash):
		left := s.opts.MaxAttempts - c.Attempts
		return errs.Precondition(ReasonCodeIncorrect, "the code is incorrect; %d attempts left", left).
			WithMetadata("attempts_left", strconv.Itoa(left))
	}
	return nil
}

// noCode returns the error for an attempt at contact k of a, which has no current code.
func noCode(a Account, k ContactKind) error {
	switch {
	case a.Status == StatusDeleted:
		return deleted(a.ID)
	case a.Contact(k).Verified():
		return errs.Precondition(ReasonContactAlreadyVerified, "the %s of account %s is verified", k, a.ID)
	}
	return errs.Precondition(ReasonNoCode, "no code was sent to the %s of account %s: ask for one", k, a.ID)
}
