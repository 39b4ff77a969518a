package payment

import (
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
)

// requireCaller refuses anonymous calls.
func requireCaller(c caller.Caller) error {
	if c.Role == caller.Anonymous {
		return errs.NoIdentity("this call needs a bearer token")
	}
	return nil
}

// requirePrivileged lets only services and operators through: moving money, reconciling,
// sub-statuses and settlements are theirs.
func requirePrivileged(c caller.Caller) error {
	if err := requireCaller(c); err != nil {
		return err
	}
	if !c.Privileged() {
		return errs.Denied("", "only services and operators may make this call")
	}
	return nil
}

// listCustomer returns the customer a list call is scoped to: customers see only their own
// (an empty filter defaults to them), services and operators whatever they ask for, and
// other roles nothing.
func listCustomer(c caller.Caller, asked string) (string, error) {
	if err := requireCaller(c); err != nil {
		return "", err
	}
	switch {
	case c.Privileged():
		return asked, nil
	case c.Role == caller.Customer && (asked == "" || asked == c.Subject):
		return c.Subject, nil
	}
	return "", errs.Denied("", "customers may only list their own resources")
}

// masked returns m as callers see it, whatever their role: the processor token masked to
// its last four characters (MaskToken). The full token never leaves the service.
func masked(m PaymentMethod) PaymentMethod {
	m.Token = MaskToken(m.Token)
	return m
}

// MaskToken hides all but the last four characters of a processor token behind "****"
// ("****" alone for a token of four characters or fewer), enough for an operator to tell
// tokens apart and useless to charge a card with.
func MaskToken(tok string) string {
	const keep = 4
	if tok == "" {
		return ""
	}
	if len(tok) <= keep {
		return "****"
	}
	return "****" + tok[len(tok)-keep:]
}
