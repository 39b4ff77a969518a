package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRideThroughREST runs rides on a mesh started with `waybill up`, through the REST
// gateway only: scripts/demo-ride.sh walks a whole ride (request, offer, accept, start,
// route, end, final fare, bill, refusal while unpaid, payment, admitted again); then a
// second ride survives real process kills: trip is killed (SIGKILL) while the ride is
// under way and fare right after it ended; after their restarts the ride completes, its
// fare equals the sum of its breakdown and trip's final fare, and it is priced and billed
// exactly once. A short `waybill bench ride` ends it.
func TestRideThroughREST(t *testing.T) {
	m := startMesh(t)
	gw := "http://" + m.addr(portsOf("gateway").HTTP)
	runRideDemo(t, m.bin, gw)

	ops := mintToken(t, m.bin, "ops-ride", "operator")
	rider := "rider-crash"
	cust := mintToken(t, m.bin, rider, "customer")
	// The demo created the ride rate card; a driver of our own, online at the pickup.
	driver := field(post(t, gw+"/v1/drivers", ops, `{"name":"Kim Crash","city":"berlin","vehicle":{"plate":"B-KC 1","model":"Skoda Octavia","products":["standard"]}}`), "driver", "id")
	drv := mintToken(t, m.bin, driver, "driver")
	post(t, gw+"/v1/drivers/"+driver+":setAvailability", drv, `{"online":true}`)
	post(t, gw+"/v1/drivers/"+driver+":updateLocation", drv, `{"location":{"point":{"latitude":52.5219,"longitude":13.4132},"fixTime":"`+time.Now().UTC().Format(time.RFC3339Nano)+`"}}`)

	tr := post(t, gw+"/v1/trips", cust, `{"customerId":"`+rider+`","pickup":{"latitude":52.5219,"longitude":13.4132},"dropoff":{"latitude":52.5096,"longitude":13.3759},"product":"standard","city":"berlin","requestId":"crash-ride-1"}`)
	tripID, matchID := field(tr, "trip", "id"), field(tr, "trip", "matchId")
	offer := ""
	waitUntil(t, 30*time.Second, "an offer to the driver", func() bool {
		_, body := getAs(t, gw+"/v1/matches/"+matchID+"?view=VIEW_FULL", ops)
		var resp struct {
			Match struct {
				Offers []struct{ ID, DriverID, Status string } `json:"offers"`
			} `json:"match"`
		}
		_ = json.Unmarshal([]byte(body), &resp)
		for _, o := range resp.Match.Offers {
			if o.Status == "OFFER_STATUS_PENDING" && o.DriverID == driver {
				offer = o.ID
			}
		}
		return offer != ""
	})
	post(t, gw+"/v1/offers/"+offer+":accept", drv, `{"requestId":"crash-accept"}`)
	waitTrip(t, gw, cust, tripID, "a driver", func(tr map[string]any) bool { return field(tr, "trip", "status") == "TRIP_STATUS_DRIVER_ASSIGNED" })
	started := post(t, gw+"/v1/trips/"+tripID+":start", drv, `{"location":{"latitude":52.5219,"longitude":13.4132},"requestId":"crash-start"}`)
	startTime, err := time.Parse(time.RFC3339Nano, field(started, "trip", "startTime"))
	if err != nil {
		t.Fatalf("startTime: %v", err)
	}

	// Kill trip mid-ride: the supervisor restarts it; the driver's app retries.
	m.kill(t, "trip")
	points := fmt.Sprintf(`{"points":[{"point":{"latitude":52.5175,"longitude":13.4050},"time":"%s"},{"point":{"latitude":52.5096,"longitude":13.3759},"time":"%s"}]}`,
		startTime.Add(time.Second).Format(time.RFC3339Nano), startTime.Add(2*time.Second).Format(time.RFC3339Nano))
	postRetrying(t, gw+"/v1/trips/"+tripID+":recordLocation", drv, points)
	ended := postRetrying(t, gw+"/v1/trips/"+tripID+":end", drv, `{"dropoff":{"latitude":52.5096,"longitude":13.3759},"requestId":"crash-end"}`)
	if field(ended, "trip", "status") != "TRIP_STATUS_ENDED" {
		t.Fatalf("ended = %v", ended)
	}
	// Kill fare before (or while) it prices the ride.
	m.kill(t, "fare")

	final := waitTrip(t, gw, cust, tripID, "the final fare", func(tr map[string]any) bool { return field(tr, "trip", "finalFare", "amountMinor") != "" })
	_, body := getAs(t, gw+"/v1/fares/"+tripID, cust)
	var fare struct {
		Fare struct {
			Total struct{ AmountMinor string } `json:"total"`
			Lines []struct {
				Code   string
				Amount struct{ AmountMinor string } `json:"amount"`
			} `json:"lines"`
		} `json:"fare"`
	}
	if err := json.Unmarshal([]byte(body), &fare); err != nil {
		t.Fatalf("GET /v1/fares: %v: %s", err, body)
	}
	sum := 0
	for _, l := range fare.Fare.Lines {
		n, _ := strconv.Atoi(l.Amount.AmountMinor)
		sum += n
	}
	if total := fare.Fare.Total.AmountMinor; total == "" || strconv.Itoa(sum) != total || field(final, "trip", "finalFare", "amountMinor") != total {
		t.Fatalf("fare total %s, lines sum %d, trip's final fare %s", total, sum, field(final, "trip", "finalFare", "amountMinor"))
	}
	// Priced once and billed once.
	_, fares := getAs(t, gw+"/v1/fares?customerId="+rider, cust)
	if n := strings.Count(fares, `"tripId":"`+tripID+`"`); n != 1 {
		t.Fatalf("%d fares for the trip: %s", n, fares)
	}
	waitUntil(t, 30*time.Second, "the ride on a bill", func() bool {
		_, bills := getAs(t, gw+"/v1/bills?customerId="+rider, cust)
		return strings.Count(bills, `"reservationId":"`+tripID+`"`) >= 1
	})
	time.Sleep(time.Second) // a second billing would have happened by now
	_, bills := getAs(t, gw+"/v1/bills?customerId="+rider, cust)
	if n := strings.Count(bills, `"reservationId":"`+tripID+`"`); n != 1 {
		t.Fatalf("the ride is on %d bill items: %s", n, bills)
	}
	// The driver is free again.
	waitUntil(t, 30*time.Second, "the driver released", func() bool {
		_, d := getAs(t, gw+"/v1/drivers/"+driver, drv)
		return strings.Contains(d, "DRIVER_STATUS_AVAILABLE")
	})

	// The ride benchmark runs against the same mesh.
	benchRideSmoke(t, gw)
}

// runRideDemo runs scripts/demo-ride.sh against the mesh's gateway gw with the binary bin,
// as its header says to: it must finish every step.
func runRideDemo(t *testing.T, bin, gw string) {
	runScript(t, "demo-ride.sh", bin, gw, 3*time.Minute, []string{"bash", "curl", "jq", "timeout"},
		`"status":"TRIP_STATUS_ENDED","finalFare":{`, `"reasonCode":"RIDE_FARE_UNPAID"`, "POST /v1/trips: HTTP 400",
		"BILL_STATUS_PAID", `{"standing":"STANDING_GOOD"}`, "13. rider: admitted again", "done: trip")
}

// kill kills the named process of the mesh with SIGKILL and waits until the supervisor
// restarted it and the gateway reports every service serving.
func (m *mesh) kill(t *testing.T, name string) {
	t.Helper()
	pid := m.logs.pidOf(name)
	if pid == 0 {
		t.Fatalf("no pid logged for %s", name)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gw := "http://" + m.addr(portsOf("gateway").HTTP)
	waitUntil(t, 60*time.Second, name+" restarted", func() bool { return m.logs.pidOf(name) != pid && healthy(t, gw) })
}

// waitUntil polls cond every 100 ms until it holds, failing the test after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitTrip polls GET /v1/trips/{id} until cond holds and returns the answer.
func waitTrip(t *testing.T, gw, token, id, what string, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	var tr map[string]any
	waitUntil(t, 30*time.Second, what, func() bool {
		code, body := getAs(t, gw+"/v1/trips/"+id, token)
		tr = nil
		return code == http.StatusOK && json.Unmarshal([]byte(body), &tr) == nil && cond(tr)
	})
	return tr
}

// postRetrying is post for a call whose service may be restarting: it retries with the
// same body (and so the same request id) while the gateway answers 503 or 502.
func postRetrying(t *testing.T, url, token, body string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, raw, err := postOnce(url, token, body)
		switch {
		case err == nil && code == http.StatusOK:
			return decodeJSON(t, url, raw)
		case err == nil && code != http.StatusServiceUnavailable && code != http.StatusBadGateway:
			t.Fatalf("POST %s = %d %s", url, code, raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST %s: still failing after 60 s (%v, %d %s)", url, err, code, raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
