// Package money is Waybill's one money type and currency rule: amounts are integer minor
// units of an active ISO 4217 currency, never floats, and every service accepts and
// refuses the same currencies.
package money

import (
	"fmt"
	"strings"

	"github.com/waybill/waybill/kit/errs"
)

// MaxAmount is the largest amount, in minor units, any request may carry: 100 million in
// a two-decimal currency. It keeps sums of a bill's items and products with surge
// multipliers (in basis points) far inside int64.
const MaxAmount int64 = 10_000_000_000

// Money is an amount in integer minor units of one ISO 4217 currency.
type Money struct {
	// Amount is in the currency's minor units (cents for EUR, yen for JPY).
	Amount int64
	// Currency is the upper-case ISO 4217 code, for example "EUR".
	Currency string
}

// New returns amount minor units of currency.
func New(amount int64, currency string) Money { return Money{Amount: amount, Currency: currency} }

// IsZero reports whether m is the zero value (no amount and no currency).
func (m Money) IsZero() bool { return m == Money{} }

// String formats m as a decimal amount with its currency, for messages: "12.30 EUR".
func (m Money) String() string { return Format(m.Amount, m.Currency) }

// ValidCurrency reports whether code is an active ISO 4217 code of a currency people pay
// in (not a fund, precious metal or bond unit), in upper case.
func ValidCurrency(code string) bool {
	return len(code) == 3 && strings.Contains(currencies, " "+code+" ")
}

// CheckCurrency returns an InvalidArgument error naming field unless code is a valid
// currency (ValidCurrency); an empty code is reported as missing.
func CheckCurrency(field, code string) error {
	switch {
	case code == "":
		return errs.Invalid(field, "is required: an ISO 4217 currency code such as EUR")
	case !ValidCurrency(code):
		return errs.Invalid(field, "must be an active ISO 4217 currency code in upper case, such as EUR")
	}
	return nil
}

// Check returns an InvalidArgument error naming the wrong part of the Money field named
// field (field+".currency_code" or field+".amount_minor", the API's field names) unless
// m has a valid currency and an amount from 0 to MaxAmount.
func Check(field string, m Money) error {
	if err := CheckCurrency(field+".currency_code", m.Currency); err != nil {
		return err
	}
	if m.Amount < 0 || m.Amount > MaxAmount {
		return errs.Invalid(field+".amount_minor", "must be from 0 to %d minor units", MaxAmount)
	}
	return nil
}

// CheckPositive is Check for amounts that must be above zero (a payment, a refund).
func CheckPositive(field string, m Money) error {
	if err := Check(field, m); err != nil {
		return err
	}
	if m.Amount == 0 {
		return errs.Invalid(field+".amount_minor", "must be positive")
	}
	return nil
}

// MinorDigits returns how many decimals currency's minor unit has: 0 and 3 for the few
// that differ, 2 otherwise.
func MinorDigits(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

// Format formats amount minor units of currency as a decimal with its code, "12.30 EUR".
func Format(amount int64, currency string) string {
	digits := MinorDigits(currency)
	sign := ""
	u := uint64(amount)
	if amount < 0 {
		sign, u = "-", uint64(-(amount+1))+1
	}
	s := fmt.Sprintf("%0*d", digits+1, u)
	if digits > 0 {
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	return strings.TrimSpace(sign + s + " " + currency)
}

// currencies lists the active ISO 4217 codes of currencies (no funds such as BOV or
// CLF, no metals, bond units or drawing rights), each between spaces.
const currencies = " AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB" +
	" BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK" +
	" DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR" +
	" IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL" +
	" MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK" +
	" PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC" +
	" SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV" +
	" WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG "
