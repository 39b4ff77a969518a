package payment

import "strings"

// Money is an amount in integer minor units of one ISO 4217 currency. The service never uses
// floating point for money.
type Money struct {
	// Amount is the amount in the currency's minor units (cents for EUR).
	Amount int64
	// Currency is the upper-case ISO 4217 code, for example "EUR".
	Currency string
}

// ValidCurrency reports whether code is an active ISO 4217 currency code.
func ValidCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	return strings.Contains(isoCurrencies, " "+code+" ")
}

// validatePositive checks that m is a positive amount in a known currency; field names the
// Money field of the request ("amount").
func (m Money) validatePositive(field string) error {
	if m.Currency == "" {
		return invalid(field+".currency_code", "the currency code is required")
	}
	if !ValidCurrency(m.Currency) {
		return invalid(field+".currency_code", "must be an active ISO 4217 currency code in upper case")
	}
	if m.Amount <= 0 {
		return invalid(field+".amount_minor", "the amount must be positive")
	}
	return nil
}

// isoCurrencies lists the active ISO 4217 codes, each surrounded by spaces.
const isoCurrencies = " AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV" +
	" BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK" +
	" DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR" +
	" IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL" +
	" MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK" +
	" PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC" +
	" SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV" +
	" WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL "
