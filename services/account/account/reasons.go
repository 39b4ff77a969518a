package account

import (
	"strconv"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
)

// The reasons of the account service's own errors (ErrorInfo.reason); every other error
// carries its kind's name (kit/errs).
const (
	// ReasonAccountExists is the reason of the ALREADY_EXISTS error for an id that is
	// taken, also by a deleted account.
	ReasonAccountExists = "ACCOUNT_EXISTS"
	// ReasonAccountDeleted is the reason of the FAILED_PRECONDITION error for a change of
	// a deleted account.
	ReasonAccountDeleted = "ACCOUNT_DELETED"
	// ReasonStaleVersion is the reason of the ABORTED error for an update that named a
	// version other than the current one.
	ReasonStaleVersion = "STALE_VERSION"
	// ReasonContactNotSet is the reason of the FAILED_PRECONDITION error for a code asked
	// for a contact the account does not have.
	ReasonContactNotSet = "CONTACT_NOT_SET"
	// ReasonContactAlreadyVerified is the reason of the FAILED_PRECONDITION error for a
	// code asked for, or entered for, a contact that is verified.
	ReasonContactAlreadyVerified = "CONTACT_ALREADY_VERIFIED"
	// ReasonCodeRateLimited is the reason of the RESOURCE_EXHAUSTED error for a code
	// asked for too soon after the last one, or too often in an hour.
	ReasonCodeRateLimited = "VERIFICATION_CODE_RATE_LIMITED"
	// ReasonNoCode is the reason of the FAILED_PRECONDITION error for a code entered for a
	// contact with no current code (none issued, or the address changed since).
	ReasonNoCode = "NO_VERIFICATION_CODE"
	// ReasonCodeIncorrect is the reason of the FAILED_PRECONDITION error for a wrong code;
	// ErrorInfo metadata "attempts_left" says how many attempts the code has left.
	ReasonCodeIncorrect = "VERIFICATION_CODE_INCORRECT"
	// ReasonCodeExpired is the reason of the FAILED_PRECONDITION error for a code entered
	// after it expired.
	ReasonCodeExpired = "VERIFICATION_CODE_EXPIRED"
	// ReasonCodeUsed is the reason of the FAILED_PRECONDITION error for a code that
	// already verified its contact.
	ReasonCodeUsed = "VERIFICATION_CODE_USED"
	// ReasonAttemptsExhausted is the reason of the RESOURCE_EXHAUSTED error for a code
	// tried too many times: ask for a new one.
	ReasonAttemptsExhausted = "VERIFICATION_ATTEMPTS_EXHAUSTED"
)

// ErrAccountExists is the error for an account id that is taken; storage maps the
// primary key to it.
var ErrAccountExists = errs.Exists(ReasonAccountExists, "an account with this id exists")

// deleted returns the error for a change of a deleted account.
func deleted(id string) error {
	return errs.Precondition(ReasonAccountDeleted, "account %s is deleted", id)
}

// stale returns the ABORTED error of an update that named a version other than the
// current one.
func stale(given, current int64) error {
	return errs.Abort(ReasonStaleVersion, "account version %d given, the current one is %d: read the account again and retry", given, current)
}

// rateLimited returns the RESOURCE_EXHAUSTED error for a code asked for before retry.
func rateLimited(now, retry time.Time) error {
	secs := int64(retry.Sub(now).Round(time.Second) / time.Second)
	return errs.Exhausted(ReasonCodeRateLimited, "a new code may be requested in %d seconds", max(secs, 1)).
		WithMetadata("retry_after_seconds", strconv.FormatInt(max(secs, 1), 10))
}

// notFound returns the NOT_FOUND error of an account a caller may not see or that does
// not exist: the two look the same.
func notFound(id string) error { return errs.Missing("", "account %q not found", id) }

// mayRead returns an error unless c may read account id: customers only their own (any
// other looks missing), operators and services every account; drivers and anonymous
// callers none.
func mayRead(c caller.Caller, id string) error {
	switch {
	case c.Privileged():
		return nil
	case c.Role == caller.Customer:
		if c.Subject != id {
			return notFound(id)
		}
		return nil
	case c.Role == caller.Anonymous:
		return errs.NoIdentity("a token is required")
	}
	return errs.Denied("", "only customers, operators and services may use accounts")
}

// mayOperate returns PERMISSION_DENIED unless c is an operator.
func mayOperate(c caller.Caller, what string) error {
	if c.Role != caller.Operator {
		if c.Role == caller.Anonymous {
			return errs.NoIdentity("a token is required")
		}
		return errs.Denied("", "only operators may %s", what)
	}
	return nil
}
