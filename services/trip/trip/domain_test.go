package trip

import (
	"math"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

func TestHaversine(t *testing.T) {
	alex := Point{52.5219, 13.4132}
	for _, c := range []struct {
		name     string
		a, b     Point
		min, max float64
	}{
		{"same point", alex, alex, 0, 0},
		{"1 km south", alex, Point{52.5129, 13.4132}, 995, 1006},
		{"Alexanderplatz to Potsdamer Platz", alex, Point{52.5096, 13.3759}, 2800, 2900},
		{"half the equator", Point{0, 0}, Point{0, 180}, 20_015_000, 20_016_000},
	} {
		if d := Haversine(c.a, c.b); d < c.min || d > c.max {
			t.Errorf("%s: %.0f m, want %.0f to %.0f", c.name, d, c.min, c.max)
		}
	}
}

func TestRouteDistance(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	p := func(lat, lng float64, s int) RoutePoint {
		return RoutePoint{Point: Point{lat, lng}, Time: at.Add(time.Duration(s) * time.Second)}
	}
	straight := []RoutePoint{p(52.5219, 13.4132, 0), p(52.5129, 13.4132, 60)}
	detour := []RoutePoint{p(52.5219, 13.4132, 0), p(52.5174, 13.4232, 30), p(52.5129, 13.4132, 60)}
	for _, c := range []struct {
		name  string
		route []RoutePoint
		want  int64
	}{
		{"empty", nil, 0},
		{"one point", straight[:1], 0},
		{"straight", straight, 1001},
		{"detour", detour, 1683},
	} {
		if got := RouteDistance(c.route); math.Abs(float64(got-c.want)) > 5 {
			t.Errorf("%s: %d m, want about %d", c.name, got, c.want)
		}
	}
}

func TestEstimateRide(t *testing.T) {
	for _, c := range []struct {
		name            string
		a, b            Point
		meters, seconds int64
	}{
		{"same point is at least 1 m and 1 s", Point{1, 1}, Point{1, 1}, 1, 1},
		{"1 km straight is 1.3 km by road at 30 km/h", Point{52.5219, 13.4132}, Point{52.5129, 13.4132}, 1301, 156},
		{"capped at fare's bounds", Point{0, 0}, Point{0, 180}, 1_000_000, 86_400},
	} {
		m, s := estimateRide(c.a, c.b)
		if math.Abs(float64(m-c.meters)) > 5 || math.Abs(float64(s-c.seconds)) > 2 {
			t.Errorf("%s: %d m, %d s; want %d m, %d s", c.name, m, s, c.meters, c.seconds)
		}
	}
}

// fields returns the fields an InvalidArgument error names.
func fields(t *testing.T, err error) []string {
	t.Helper()
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.InvalidArgument {
		t.Fatalf("error %v, want InvalidArgument", err)
	}
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestRequestInputValidate(t *testing.T) {
	ok := func() RequestInput {
		return RequestInput{CustomerID: "c-1", Pickup: &Point{52.5, 13.4}, Dropoff: &Point{52.6, 13.3}, Product: "standard", City: "berlin"}
	}
	if err := ok().validate(); err != nil {
		t.Fatalf("valid input: %v", err)
	}
	nan := math.NaN()
	for _, c := range []struct {
		name  string
		edit  func(*RequestInput)
		field string
	}{
		{"no customer", func(r *RequestInput) { r.CustomerID = "" }, "customer_id"},
		{"no pickup", func(r *RequestInput) { r.Pickup = nil }, "pickup"},
		{"latitude out of range", func(r *RequestInput) { r.Pickup = &Point{90.0001, 0} }, "pickup"},
		{"NaN longitude", func(r *RequestInput) { r.Dropoff = &Point{0, nan} }, "dropoff"},
		{"upper-case product", func(r *RequestInput) { r.Product = "Standard" }, "product"},
		{"long product", func(r *RequestInput) { r.Product = "a234567890123456789012345678901234" }, "product"},
		{"no city", func(r *RequestInput) { r.City = "" }, "city"},
		{"request id over 64", func(r *RequestInput) { r.RequestID = string(make([]byte, 65)) }, "request_id"},
		{"request id not printable", func(r *RequestInput) { r.RequestID = "a\nb" }, "request_id"},
	} {
		r := ok()
		c.edit(&r)
		got := fields(t, r.validate())
		if len(got) != 1 || got[0] != c.field {
			t.Errorf("%s: fields %v, want [%s]", c.name, got, c.field)
		}
	}
	// Every problem at once.
	if got := fields(t, RequestInput{}.validate()); len(got) != 5 {
		t.Errorf("empty input names %v, want customer_id, pickup, dropoff, product, city", got)
	}
}

func TestValidatePoints(t *testing.T) {
	id := "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
	now := time.Now()
	good := PointInput{Point: &Point{1, 1}, Time: now}
	for _, c := range []struct {
		name   string
		id     string
		points []PointInput
		field  string
	}{
		{"no trip", "", []PointInput{good}, "trip_id"},
		{"no points", id, nil, "points"},
		{"too many", id, make([]PointInput, MaxPointsPerCall+1), "points"},
		{"missing point", id, []PointInput{good, {Time: now}}, "points[1].point"},
		{"missing time", id, []PointInput{{Point: &Point{1, 1}}}, "points[0].time"},
		{"out of range", id, []PointInput{good, good, {Point: &Point{1, 200}, Time: now}}, "points[2].point"},
	} {
		got := fields(t, validatePoints(c.id, c.points))
		if got[0] != c.field {
			t.Errorf("%s: fields %v, want %s first", c.name, got, c.field)
		}
	}
	if err := validatePoints(id, []PointInput{good}); err != nil {
		t.Fatal(err)
	}
}

func TestTerminal(t *testing.T) {
	fare := money.New(1234, "EUR")
	for _, c := range []struct {
		t    Trip
		want bool
	}{
		{Trip{Status: StatusRequested}, false},
		{Trip{Status: StatusStarted}, false},
		{Trip{Status: StatusEnded}, false}, // calculating the fare
		{Trip{Status: StatusEnded, FinalFare: &fare}, true},
		{Trip{Status: StatusCancelled}, true},
	} {
		if got := Terminal(c.t); got != c.want {
			t.Errorf("Terminal(%s, fare %v) = %v", c.t.Status, c.t.FinalFare, got)
		}
	}
	for s, active := range map[Status]bool{StatusRequested: true, StatusDriverAssigned: true, StatusStarted: true, StatusEnded: false, StatusCancelled: false} {
		if s.Active() != active || !s.Valid() {
			t.Errorf("%s: active %v valid %v", s, s.Active(), s.Valid())
		}
	}
	if Status("lost").Valid() {
		t.Error("an unknown status is valid")
	}
}

func TestHubCoalesces(t *testing.T) {
	h := NewHub()
	ch, stop := h.Watch("t1")
	other, stopOther := h.Watch("t2")
	defer stopOther()
	for range 3 {
		h.Notify("t1")
	}
	select {
	case <-ch:
	default:
		t.Fatal("no notification")
	}
	select {
	case <-ch:
		t.Fatal("three notifications were not coalesced into one")
	case <-other:
		t.Fatal("another trip's watcher was notified")
	default:
	}
	stop()
	h.Notify("t1") // no watcher left: nothing blocks
	var nilHub *Hub
	nilHub.Notify("t1")
}
