package money_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

// FuzzCheck runs the currency and amount rules every service applies to the money in a
// request, over arbitrary codes and amounts: CheckCurrency accepts exactly the codes
// ValidCurrency does (three upper-case letters of the list) and refuses the others with
// INVALID_ARGUMENT naming the field; Check accepts exactly 0 to MaxAmount; and Format
// writes an amount that reads back. The seeds run with every `go test`; to fuzz:
//
//	go test -run '^$' -fuzz '^FuzzCheck$' -fuzztime 30s ./kit/money
func FuzzCheck(f *testing.F) {
	for _, s := range []struct {
		code   string
		amount int64
	}{{"EUR", 1230}, {"JPY", -5}, {"KWD", 1}, {"ZZZ", 0}, {"eur", 1}, {"", 0}, {"EU", 0}, {"EURO", 0},
		{" EU", 0}, {"D A", 0}, {"XAU", 0}, {"EUR", money.MaxAmount + 1}, {"EUR", -1 << 63}, {"BHD", 1<<63 - 1}} {
		f.Add(s.code, s.amount)
	}
	f.Fuzz(func(t *testing.T, code string, amount int64) {
		valid := money.ValidCurrency(code)
		if valid && (len(code) != 3 || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
			t.Fatalf("ValidCurrency(%q) = true", code)
		}
		err := money.CheckCurrency("price.currency_code", code)
		if (err == nil) != valid {
			t.Fatalf("CheckCurrency(%q) = %v but ValidCurrency = %v", code, err, valid)
		}
		if err != nil {
			wantField(t, err, "price.currency_code")
		}
		err = money.Check("price", money.New(amount, code))
		switch {
		case !valid:
			wantField(t, err, "price.currency_code")
		case amount < 0 || amount > money.MaxAmount:
			wantField(t, err, "price.amount_minor")
		case err != nil:
			t.Fatalf("Check(%d %q) = %v", amount, code, err)
		}

		s := money.Format(amount, code)
		if code != strings.TrimSpace(code) {
			return // Format trims the line; such a code never passes Check
		}
		num, named := strings.CutSuffix(s, " "+code)
		if !named && code != "" {
			t.Fatalf("Format(%d, %q) = %q does not end with the currency", amount, code, s)
		}
		digits := money.MinorDigits(code)
		whole, frac, dotted := strings.Cut(num, ".")
		if dotted != (digits > 0) || len(frac) != digits {
			t.Fatalf("Format(%d, %q) = %q, want %d decimals", amount, code, s, digits)
		}
		back, err := strconv.ParseInt(whole+frac, 10, 64)
		if err != nil || back != amount {
			t.Fatalf("Format(%d, %q) = %q reads back as %d, %v", amount, code, s, back, err)
		}
	})
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.InvalidArgument || len(e.Fields) != 1 || e.Fields[0].Field != field {
		t.Fatalf("got %v, want INVALID_ARGUMENT naming %s", err, field)
	}
}
