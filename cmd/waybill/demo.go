package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/waybill/waybill/kit/auth"
)

// The demo day `waybill up --demo` seeds: departures on four routes and a hotel, 12
// customers holding seats and rooms, and 45 bills of them in several states (open,
// finalized, cancelled, a few paid through the pay saga), so that the operator panel is
// worth looking at on first start. Everything goes through the REST gateway as the
// operator and the customers would.
const (
	demoBills     = 45
	demoCustomers = 12
)

// demoRoutes are the seeded departures, three days from now at 10:00 UTC.
var demoRoutes = []struct {
	mode, carrier, number, origin, destination string
	priceMinor                                 int
}{
	{"TRANSPORT_MODE_FLIGHT", "LH", "400", "FRA", "JFK", 42000},
	{"TRANSPORT_MODE_FLIGHT", "AF", "1019", "CDG", "FRA", 15900},
	{"TRANSPORT_MODE_TRAIN", "DB", "ICE 597", "BER", "MUC", 8990},
	{"TRANSPORT_MODE_BUS", "FLX", "N123", "BER", "PRG", 2499},
}

// demoClient calls the gateway with a bearer token.
type demoClient struct {
	base  string
	http  *http.Client
	token string
}

// call sends body (JSON) to path and decodes the answer into out; a status other than
// 200 is an error with the answer's message. Request ids make every call safe to repeat.
func (c demoClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// demoDay is what seedDemo made.
type demoDay struct {
	// Bills is how many bills it opened.
	Bills int
	// DriverID is the demo driver's id (a driver's token names it as its subject).
	DriverID string
}

func eur(minor int) map[string]any {
	return map[string]any{"amountMinor": fmt.Sprint(minor), "currencyCode": "EUR"}
}

// seedDemo fills the mesh behind gateway (a base URL) with the demo day. Its request ids
// are fixed, so seeding a mesh twice makes nothing twice but the driver.
func seedDemo(ctx context.Context, gateway, secret string) (demoDay, error) {
	opts := issueOptions()
	opts.Secret = secret
	signer, err := auth.New(opts)
	if err != nil {
		return demoDay{}, err
	}
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	as := func(subject string, role auth.Role) (demoClient, error) {
		tok, err := signer.Sign(auth.Identity{Subject: subject, Role: role}, time.Hour)
		return demoClient{base: gateway, http: hc, token: tok}, err
	}
	ops, err := as("ops-demo", auth.RoleOperator)
	if err != nil {
		return demoDay{}, err
	}
	type idOnly struct {
		ID string `json:"id"`
	}
	// 10:00 UTC three days from now: the same calendar day in UTC (the pages search by it)
	// and at the origin (Europe/Berlin), whatever the hour the demo is seeded.
	at := time.Now().UTC().AddDate(0, 0, 3).Truncate(24 * time.Hour).Add(10 * time.Hour)
	departures := make([]string, len(demoRoutes))
	for i, r := range demoRoutes {
		card := map[string]any{
			"rateCard": map[string]any{
				"productKey":   map[string]any{"seat": map[string]any{"carrier": r.carrier, "origin": r.origin, "destination": r.destination, "fareClass": "economy"}},
				"currencyCode": "EUR",
				"inventory":    map[string]any{"unitPrice": map[string]any{"amountMinor": fmt.Sprint(r.priceMinor), "currencyCode": "EUR"}},
			},
			"requestId": fmt.Sprintf("demo-card-%d", i),
		}
		if err := ops.call(ctx, http.MethodPost, "/v1/rateCards", card, nil); err != nil {
			return demoDay{}, err
		}
		var dep struct{ Departure idOnly }
		if err := ops.call(ctx, http.MethodPost, "/v1/departures", map[string]any{
			"departure": map[string]any{
				"mode": r.mode, "carrier": r.carrier, "number": r.number, "origin": r.origin, "destination": r.destination,
				"departureTime": at.Format(time.RFC3339), "arrivalTime": at.Add(8 * time.Hour).Format(time.RFC3339),
				"originTimeZone": "Europe/Berlin", "fareClasses": []any{map[string]any{"name": "economy", "capacity": 400}},
			},
			"requestId": fmt.Sprintf("demo-departure-%d", i),
		}, &dep); err != nil {
			return demoDay{}, err
		}
		departures[i] = dep.Departure.ID
	}
	var prop struct{ Property idOnly }
	if err := ops.call(ctx, http.MethodPost, "/v1/properties", map[string]any{
		"property": map[string]any{
			"name": "Hotel Adlon", "city": "berlin", "address": "Unter den Linden 77", "timeZone": "Europe/Berlin",
			"location":  map[string]any{"latitude": 52.5, "longitude": 13.38},
			"roomTypes": []any{map[string]any{"name": "double", "nightlyCapacity": 200, "maxGuests": 2}},
		},
		"requestId": "demo-property",
	}, &prop); err != nil {
		return demoDay{}, err
	}
	if err := ops.call(ctx, http.MethodPost, "/v1/rateCards", map[string]any{
		"rateCard": map[string]any{
			"productKey":   map[string]any{"stay": map[string]any{"propertyId": prop.Property.ID, "roomType": "double"}},
			"currencyCode": "EUR",
			"inventory":    map[string]any{"unitPrice": map[string]any{"amountMinor": "12900", "currencyCode": "EUR"}},
		},
		"requestId": "demo-card-stay",
	}, nil); err != nil {
		return demoDay{}, err
	}

	// Rides in Berlin, and a driver for them (the driver page signs in as this driver).
	if err := ops.call(ctx, http.MethodPost, "/v1/rateCards", map[string]any{
		"rateCard": map[string]any{
			"productKey":     map[string]any{"ride": map[string]any{"city": "berlin", "product": "standard"}},
			"currencyCode":   "EUR",
			"ride":           map[string]any{"baseFare": eur(300), "perKilometer": eur(150), "perMinute": eur(30), "minimumFare": eur(800)},
			"dynamicPricing": map[string]any{"minMultiplierBps": 10000, "maxMultiplierBps": 30000},
		},
		"requestId": "demo-card-ride",
	}, nil); err != nil {
		return demoDay{}, err
	}
	var drv struct{ Driver idOnly }
	if err := ops.call(ctx, http.MethodPost, "/v1/drivers", map[string]any{
		"name": "Dana Driver", "city": "berlin",
		"vehicle": map[string]any{"plate": "B-WB 1", "model": "Toyota Prius", "products": []string{"standard"}},
	}, &drv); err != nil {
		return demoDay{}, err
	}

	day := func(days int) map[string]any {
		d := time.Now().UTC().AddDate(0, 0, days)
		return map[string]any{"year": d.Year(), "month": int(d.Month()), "day": d.Day()}
	}
	hold := func(c demoClient, subject string, i, n int) (id, kind string, err error) {
		var res map[string]any
		if i%5 == 4 {
			res = map[string]any{
				"stay":      map[string]any{"propertyId": prop.Property.ID, "roomType": "double", "checkInDate": day(7 + i%3), "checkOutDate": day(9 + i%3), "guestCount": 2},
				"quantity":  1,
				"travelers": []any{map[string]any{"fullName": "Guest " + subject}},
			}
		} else {
			travelers := []any{map[string]any{"fullName": "Traveler " + subject}}
			if i%2 == 1 {
				travelers = append(travelers, map[string]any{"fullName": "Companion of " + subject})
			}
			res = map[string]any{
				"seat":      map[string]any{"departureId": departures[i%len(departures)], "fareClass": "economy"},
				"quantity":  len(travelers),
				"travelers": travelers,
			}
		}
		var out struct {
			Reservation struct{ ID, Kind string }
		}
		err = c.call(ctx, http.MethodPost, "/v1/reservations", map[string]any{"reservation": res, "holdDuration": "3600s", "requestId": fmt.Sprintf("demo-hold-%d-%d", i, n)}, &out)
		return out.Reservation.ID, out.Reservation.Kind, err
	}

	methods := map[string]string{}
	var paying []string
	for i := range demoBills {
		subject := fmt.Sprintf("c-%d", i%demoCustomers+1)
		c, err := as(subject, auth.RoleCustomer)
		if err != nil {
			return demoDay{}, err
		}
		var b struct{ Bill idOnly }
		if err := c.call(ctx, http.MethodPost, "/v1/bills", map[string]any{"customerId": subject, "currencyCode": "EUR", "requestId": fmt.Sprintf("demo-bill-%d", i)}, &b); err != nil {
			return demoDay{}, err
		}
		items := 1
		if i%3 == 0 {
			items = 2
		}
		for n := range items {
			id, kind, err := hold(c, subject, i+n, n)
			if err != nil {
				return demoDay{}, err
			}
			if err := c.call(ctx, http.MethodPost, "/v1/bills/"+b.Bill.ID+"/items", map[string]any{"kind": kind, "reservationId": id, "requestId": fmt.Sprintf("demo-item-%d-%d", i, n)}, nil); err != nil {
				return demoDay{}, err
			}
		}
		switch {
		case i%7 == 2:
			err = c.call(ctx, http.MethodPost, "/v1/bills/"+b.Bill.ID+":cancel", map[string]any{"reason": "changed plans", "requestId": fmt.Sprintf("demo-cancel-%d", i)}, nil)
		case i%5 == 1 || i%11 == 3:
			err = c.call(ctx, http.MethodPost, "/v1/bills/"+b.Bill.ID+":finalize", map[string]any{"requestId": fmt.Sprintf("demo-finalize-%d", i)}, nil)
			if err == nil && i%11 == 3 {
				if methods[subject] == "" {
					var pm struct{ PaymentMethod idOnly }
					err = c.call(ctx, http.MethodPost, "/v1/paymentMethods", map[string]any{
						"customerId": subject, "requestId": "demo-card-" + subject,
						"card": map[string]any{"number": "4242424242424242", "expiryMonth": 12, "expiryYear": time.Now().Year() + 5, "cvc": "123"},
					}, &pm)
					methods[subject] = pm.PaymentMethod.ID
				}
				if err == nil {
					err = c.call(ctx, http.MethodPost, "/v1/bills/"+b.Bill.ID+":pay", map[string]any{"paymentMethodId": methods[subject], "requestId": fmt.Sprintf("demo-pay-%d", i)}, nil)
					paying = append(paying, b.Bill.ID)
				}
			}
		}
		if err != nil {
			return demoDay{}, err
		}
	}
	// The pay sagas run on their own: wait (a little) for them, so the panel shows them paid.
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range paying {
		for time.Now().Before(deadline) {
			var out struct{ Bill struct{ Status string } }
			if err := ops.call(ctx, http.MethodGet, "/v1/bills/"+id, nil, &out); err != nil {
				return demoDay{}, err
			}
			if out.Bill.Status != "BILL_STATUS_FINALIZED" {
				break
			}
			select {
			case <-ctx.Done():
				return demoDay{}, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return demoDay{Bills: demoBills, DriverID: drv.Driver.ID}, nil
}
