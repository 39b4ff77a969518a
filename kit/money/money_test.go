package money_test

import (
	"testing"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

func TestValidCurrency(t *testing.T) {
	for code, want := range map[string]bool{
		"EUR": true, "USD": true, "JPY": true, "KWD": true, "CHF": true,
		"ZZZ": false, "eur": false, "EU": false, "EURO": false, "": false, "XAU": false, "BOV": false, "XTS": false, " EU": false,
	} {
		if got := money.ValidCurrency(code); got != want {
			t.Errorf("ValidCurrency(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		m     money.Money
		field string // empty: valid
	}{
		{money.New(0, "EUR"), ""},
		{money.New(money.MaxAmount, "JPY"), ""},
		{money.New(100, "ZZZ"), "total.currency_code"},
		{money.New(100, ""), "total.currency_code"},
		{money.New(-1, "EUR"), "total.amount_minor"},
		{money.New(money.MaxAmount+1, "EUR"), "total.amount_minor"},
	} {
		err := money.Check("total", tc.m)
		if tc.field == "" {
			if err != nil {
				t.Errorf("Check(%v) = %v, want nil", tc.m, err)
			}
			continue
		}
		e, ok := errs.As(err)
		if !ok || e.Kind != errs.InvalidArgument || len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
			t.Errorf("Check(%v) = %#v, want INVALID_ARGUMENT naming %s", tc.m, err, tc.field)
		}
	}
	if err := money.CheckPositive("amount", money.New(0, "EUR")); errs.KindOf(err) != errs.InvalidArgument {
		t.Errorf("CheckPositive(0) = %v, want INVALID_ARGUMENT", err)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		amount   int64
		currency string
		want     string
	}{
		{1230, "EUR", "12.30 EUR"},
		{5, "EUR", "0.05 EUR"},
		{-5, "EUR", "-0.05 EUR"},
		{1230, "JPY", "1230 JPY"},
		{1230, "KWD", "1.230 KWD"},
		{-9223372036854775808, "JPY", "-9223372036854775808 JPY"},
	} {
		if got := money.Format(tc.amount, tc.currency); got != tc.want {
			t.Errorf("Format(%d, %s) = %q, want %q", tc.amount, tc.currency, got, tc.want)
		}
	}
}
