package city_test

import (
	"strings"
	"testing"

	"github.com/waybill/waybill/kit/city"
	"github.com/waybill/waybill/kit/errs"
)

func TestCheck(t *testing.T) {
	for code, ok := range map[string]bool{
		"berlin": true, "new-york": true, "zone_7": true, strings.Repeat("a", city.MaxLength): true,
		"": false, "Berlin": false, "new york": false, "münchen": false, strings.Repeat("a", city.MaxLength+1): false,
	} {
		err := city.Check("driver.city", code)
		if ok != (err == nil) || city.Valid(code) != ok {
			t.Errorf("Check(%q) = %v, Valid = %v; want ok=%v", code, err, city.Valid(code), ok)
		}
		if e, _ := errs.As(err); err != nil && (e == nil || e.Fields[0].Field != "driver.city") {
			t.Errorf("Check(%q) = %v, want INVALID_ARGUMENT naming driver.city", code, err)
		}
	}
}
