package matchinggrpc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/matching/matchingapp"
)

// The history of the race test, checked by porcupine against a model of one driver
// (partitions by driver): a driver is free or on one match's ride. An accepted offer
// puts a free driver on the match's ride (accepting the same offer again changes
// nothing); only a release or the cancel of that match frees them. Two accepted
// offers of one driver without a release between have no linearization: a double
// assignment.
type (
	raceInput struct {
		Kind   string // "accept", "release" or "cancel"
		Driver string
		Match  string
	}
	raceOutput struct {
		// OK: the accept succeeded.
		OK bool
		// OnMatch: after a release, the match the driver is held for ("" when none).
		OnMatch string
	}
)

var driverModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range history {
			d := op.Input.(raceInput).Driver
			by[d] = append(by[d], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		on, in, out := state.(string), input.(raceInput), output.(raceOutput)
		switch in.Kind {
		case "accept":
			if !out.OK {
				return true, on
			}
			return on == "" || on == in.Match, in.Match
		case "release":
			if out.OnMatch == in.Match {
				return false, on // the ride was not released
			}
			if on == in.Match {
				return true, ""
			}
			return true, on
		case "cancel":
			if on == in.Match {
				return true, ""
			}
			return true, on
		}
		return false, on
	},
	DescribeOperation: func(input, output any) string {
		return fmt.Sprintf("%v -> %v", input, output)
	},
}

// raceRun is the shared state of one run of the race test.
type raceRun struct {
	t        *testing.T
	replicas []*harness
	start    time.Time
	mu       sync.Mutex
	history  []porcupine.Operation
	matches  map[string]*matchingv1.CreateMatchRequest // by match id
	accepted atomic.Int64
	released atomic.Int64
	work     sync.WaitGroup // agents' pending actions
}

// pick returns a random replica.
func (r *raceRun) pick() *harness { return r.replicas[rand.IntN(len(r.replicas))] }

// record runs call between two clock readings and appends the operation.
func (r *raceRun) record(client int, in raceInput, call func() (raceOutput, bool)) {
	begin := time.Since(r.start).Nanoseconds()
	out, ok := call()
	end := time.Since(r.start).Nanoseconds()
	if !ok {
		return
	}
	r.mu.Lock()
	r.history = append(r.history, porcupine.Operation{ClientId: client, Input: in, Call: begin, Output: out, Return: end})
	r.mu.Unlock()
}

// raceConfig: four dispatcher workers per replica, so that attempts of different
// matches race for the same drivers.
func raceConfig() matchingapp.Config {
	c := matchConfig()
	c.DispatchWorkers = 4
	c.OfferHeartbeat = time.Second
	return c
}

// TestNoDoubleAssignmentUnderRaces: 200 matches compete for 20 drivers on two replicas
// of matching (one database; the second's index learns the first's changes only by its
// periodic sync, so it offers drivers it believes AVAILABLE). Drivers accept (sometimes
// twice at once, sometimes after the offer expired), decline (sometimes racing their own
// accept) or let offers expire; trips cancel some matches at random moments and release
// each ride a little after it was accepted. The history of accepts, releases and cancels
// must be linearizable against a driver who is on at most one ride (porcupine), the
// database must never show a driver with two active assignments, every match must end
// ASSIGNED, FAILED or CANCELLED, and every driver, all rides released, AVAILABLE.
func TestNoDoubleAssignmentUnderRaces(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 200 matches")
	}
	t.Parallel()
	first := startWith(t, raceConfig())
	second := startWith(t, raceConfig(), grpctest.WithPool(first.pool))
	r := &raceRun{t: t, replicas: []*harness{first, second}, start: time.Now(), matches: map[string]*matchingv1.CreateMatchRequest{}}
	ctx, stop := context.WithCancel(grpctest.Context(t))
	defer stop()

	const nDrivers, nMatches = 20, 200
	var drivers []string
	for range nDrivers {
		d := first.driverAt(t, north(berlin, rand.Float64()*1500))
		drivers = append(drivers, d.GetId())
	}
	// The guard, watched from the database while the run goes on.
	var doubles atomic.Int64
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for ctx.Err() == nil {
			var n int64
			if err := first.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT driver_id FROM match
				WHERE status = 3 AND release_time IS NULL GROUP BY driver_id HAVING count(*) > 1) x`).Scan(&n); err == nil {
				doubles.Add(n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	// One agent per driver, watching their offers on a random replica.
	for i, id := range drivers {
		stream := r.pick().watch(t, r.pick().as(id), id)
		go r.agent(ctx, i, id, stream)
	}
	// Trips: 200 matches over about 3 seconds; some are cancelled at a random moment.
	var trips sync.WaitGroup
	for i := range nMatches {
		trips.Go(func() {
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Millisecond)
			req := &matchingv1.CreateMatchRequest{
				TripId: fmt.Sprintf("race-%d", i), Pickup: north(berlin, rand.Float64()*500), Product: "standard",
				OfferTimeout: durationpb.New(time.Duration(slowdown*(200+rand.IntN(300))) * time.Millisecond),
				MaxAttempts:  int32(1 + rand.IntN(4)), FanOut: int32(1 + rand.IntN(3)),
				RequestId: fmt.Sprintf("create-%d", i),
			}
			resp, err := r.pick().service.CreateMatch(ctx, req)
			if err != nil {
				t.Errorf("CreateMatch: %v", err)
				return
			}
			id := resp.GetMatch().GetId()
			r.mu.Lock()
			r.matches[id] = req
			r.mu.Unlock()
			if rand.IntN(100) < 15 {
				time.Sleep(time.Duration(rand.IntN(1200)) * time.Millisecond)
				r.record(1000+i, raceInput{Kind: "cancel", Match: id}, func() (raceOutput, bool) {
					_, err := r.pick().service.CancelMatch(ctx, &matchingv1.CancelMatchRequest{MatchId: id, Reason: "trip_cancelled"})
					if err != nil { // FAILED already
						return raceOutput{}, false
					}
					return raceOutput{}, true
				})
			}
		})
	}
	trips.Wait()
	// Every match ends; every accepted ride is released.
	grpctest.Eventually(t, 60*time.Second, "every match ended and every ride released", func() bool {
		var open, onTrip int
		err := first.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM match WHERE status IN (1, 2)),
			(SELECT count(*) FROM driver WHERE status <> 2)`).Scan(&open, &onTrip)
		return err == nil && open == 0 && onTrip == 0
	})
	r.work.Wait()
	stop()
	watcher.Wait()

	// The cancels belong to the driver the match had, if any.
	r.mu.Lock()
	history := r.history
	r.mu.Unlock()
	var ops []porcupine.Operation
	for _, op := range history {
		in := op.Input.(raceInput)
		if in.Kind == "cancel" {
			m := first.getMatch(t, in.Match)
			if m.GetDriverId() == "" {
				continue
			}
			in.Driver = m.GetDriverId()
			op.Input = in
		}
		ops = append(ops, op)
	}
	res, info := porcupine.CheckOperationsVerbose(driverModel, ops, time.Minute)
	if res != porcupine.Ok {
		t.Errorf("the history of %d operations is %v: a driver was given two rides", len(ops), res)
		describeIllegal(t, info)
	}
	if n := doubles.Load(); n > 0 {
		t.Errorf("the database showed %d times a driver with two active assignments", n)
	}
	var statuses []string
	rows, err := first.pool.Query(t.Context(), `SELECT status::text || ':' || count(*) FROM match GROUP BY status ORDER BY status`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, s)
	}
	var bad int
	if err := first.pool.QueryRow(t.Context(), `SELECT count(*) FROM match WHERE status NOT IN (3, 4, 5)
		OR (status = 3 AND release_time IS NULL)`).Scan(&bad); err != nil || bad != 0 {
		t.Errorf("%d matches did not end (or kept their driver), %v", bad, err)
	}
	if n := first.count(t, "match"); n != nMatches {
		t.Errorf("%d matches, want %d", n, nMatches)
	}
	if n := r.accepted.Load(); n < 20 {
		t.Errorf("only %d accepts succeeded: the run raced too little", n)
	}
	t.Logf("%d operations checked; %d rides accepted, %d released by their trip; matches by status %s",
		len(ops), r.accepted.Load(), r.released.Load(), strings.Join(statuses, " "))
}

// describeIllegal logs the first partition porcupine could not linearize.
func describeIllegal(t *testing.T, info porcupine.LinearizationInfo) {
	for _, part := range info.PartialLinearizationsOperations() {
		for _, lin := range part {
			var b strings.Builder
			for _, op := range lin {
				fmt.Fprintf(&b, "%v -> %v; ", op.Input, op.Output)
			}
			t.Logf("longest linearizable prefix: %s", b.String())
			return
		}
	}
}

// agent plays driver id: for each new pending offer it accepts (sometimes twice at
// once, sometimes late), declines (sometimes racing its own accept) or lets it expire,
// and releases each accepted ride a little later, as the trip would.
func (r *raceRun) agent(ctx context.Context, client int, id string, s *offerStream) {
	seen := map[string]bool{}
	for {
		var msg *matchingv1.WatchDriverOffersResponse
		select {
		case <-ctx.Done():
			return
		case <-s.errc:
			return
		case msg = <-s.msgs:
		}
		o := msg.GetOffer()
		if o == nil || o.GetStatus() != matchingv1.OfferStatus_OFFER_STATUS_PENDING || seen[o.GetId()] {
			continue
		}
		seen[o.GetId()] = true
		r.work.Add(1)
		go func() {
			defer r.work.Done()
			r.act(ctx, client, id, o)
		}()
	}
}

func (r *raceRun) act(ctx context.Context, client int, id string, o *matchingv1.Offer) {
	ttl := time.Until(o.GetExpireTime().AsTime())
	time.Sleep(time.Duration(rand.Float64() * 1.2 * float64(max(ttl, 0))))
	accept := func() bool {
		var ok bool
		r.record(client, raceInput{Kind: "accept", Driver: id, Match: o.GetMatchId()}, func() (raceOutput, bool) {
			_, err := r.pick().as(id).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o.GetId()})
			ok = err == nil
			return raceOutput{OK: ok}, ctx.Err() == nil
		})
		return ok
	}
	decline := func() {
		_, _ = r.pick().as(id).DeclineOffer(ctx, &matchingv1.DeclineOfferRequest{OfferId: o.GetId(), Reason: "busy"})
	}
	var won atomic.Bool
	switch n := rand.IntN(100); {
	case n < 35:
		won.Store(accept())
	case n < 50: // twice at once
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if accept() {
					won.Store(true)
				}
			})
		}
		wg.Wait()
	case n < 60: // accept and decline at once
		var wg sync.WaitGroup
		wg.Go(func() {
			if accept() {
				won.Store(true)
			}
		})
		wg.Go(decline)
		wg.Wait()
	case n < 80:
		decline()
	default: // let it expire
	}
	if !won.Load() {
		return
	}
	r.accepted.Add(1)
	time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
	r.mu.Lock()
	trip := r.matches[o.GetMatchId()].GetTripId()
	r.mu.Unlock()
	if trip == "" {
		trip = o.GetTripId()
	}
	r.record(client, raceInput{Kind: "release", Driver: id, Match: o.GetMatchId()}, func() (raceOutput, bool) {
		resp, err := r.pick().service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: id, TripId: trip, Reason: "trip_ended"})
		if err != nil {
			r.t.Errorf("ReleaseDriver: %v", err)
			return raceOutput{}, false
		}
		r.released.Add(1)
		return raceOutput{OnMatch: resp.GetDriver().GetCurrentMatchId()}, true
	})
}
