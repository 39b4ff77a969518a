package analyticsapp_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	analyticsv1 "github.com/waybill/waybill/gen/waybill/analytics/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/analytics/analytics"
	"github.com/waybill/waybill/services/analytics/analyticsapp"
)

// clock is the analytics server's clock in tests: real time plus an offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// alertEvents reads analytics' own event log up to its head, returning the alert events.
func alertEvents(t *testing.T, m *mesh) []*analyticsv1.AlertEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := eventsv1.NewEventStreamServiceClient(m.analytics.Conn(operator)).Subscribe(ctx,
		&eventsv1.SubscribeRequest{Service: analyticsapp.Name})
	if err != nil {
		t.Fatal(err)
	}
	var out []*analyticsv1.AlertEvent
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("read analytics' events: %v", err)
		}
		if msg.GetHeartbeat() {
			return out
		}
		var a analyticsv1.AlertEvent
		if err := msg.GetEvent().GetPayload().UnmarshalTo(&a); err != nil {
			t.Fatal(err)
		}
		if a.GetAlert().GetId() != msg.GetEvent().GetKey() {
			t.Errorf("event key %q, alert id %q", msg.GetEvent().GetKey(), a.GetAlert().GetId())
		}
		out = append(out, &a)
	}
}

// TestAlerts: a cancellation rate and a payment failure rate above their thresholds raise
// one alert each (an analytics.alert.raised event each), evaluating again raises nothing
// new, and once the windows have passed both clear (analytics.alert.cleared).
func TestAlerts(t *testing.T) {
	clk := &clock{}
	m := newMesh(t, func(c *analyticsapp.Config) {
		c.Now = clk.Now
		c.Rules = analytics.AlertRules{CancellationRate: 0.4, MinBookings: 2, FailureRate: 0.5, MinAttempts: 3,
			LagEvents: 1000, LagAge: 1000 * time.Hour} // the clock jumps a day: no source counts as silent
	})
	today := time.Now().UTC().Truncate(24 * time.Hour)
	p := m.property(t)
	a := m.confirm(t, m.stay(t, p.GetId(), 1, today.AddDate(0, 0, 10), today.AddDate(0, 0, 11)).GetId())
	m.confirm(t, m.stay(t, p.GetId(), 1, today.AddDate(0, 0, 12), today.AddDate(0, 0, 13)).GetId())
	m.cancel(t, a.GetId()) // 1 of 2 cancelled: 50 % > 40 %
	if _, err := m.pay(t, "tok_sim_visa", 1000); err != nil {
		t.Fatal(err)
	}
	m.pay(t, "tok_sim_card_declined", 1000)
	m.pay(t, "tok_sim_insufficient_funds", 1000) // 2 of 3 failed: 67 % > 50 %
	m.waitSynced(t)

	ctx := grpctest.Context(t)
	raised, cleared, err := m.svc.EvaluateAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[analytics.AlertRule]analytics.Alert{}
	for _, a := range raised {
		rules[a.Rule] = a
	}
	if len(raised) != 2 || len(cleared) != 0 || rules[analytics.RuleCancellationRate].Value != 0.5 ||
		rules[analytics.RulePaymentFailures].Value < 0.66 {
		t.Fatalf("raised %+v, cleared %+v; want the cancellation (0.5) and payment failure (2/3) alerts", raised, cleared)
	}
	if again, _, err := m.svc.EvaluateAlerts(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second evaluation raised %+v (%v), want nothing new", again, err)
	}
	list, err := m.kpis.ListAnalyticsAlerts(ctx, &analyticsv1.ListAnalyticsAlertsRequest{OpenOnly: true})
	if err != nil || len(list.GetAlerts()) != 2 {
		t.Fatalf("open alerts %v (%v), want 2", list.GetAlerts(), err)
	}
	grpctest.Eventually(t, 5*time.Second, "two analytics.alert.raised events", func() bool { return len(alertEvents(t, m)) == 2 })

	clk.Advance(25 * time.Hour) // both windows passed
	_, cleared, err = m.svc.EvaluateAlerts(ctx)
	if err != nil || len(cleared) != 2 {
		t.Fatalf("cleared %+v (%v), want both", cleared, err)
	}
	grpctest.Eventually(t, 5*time.Second, "two more events, the clearings", func() bool {
		ev := alertEvents(t, m)
		return len(ev) == 4 && ev[2].GetAlert().GetClearTime() != nil && ev[3].GetAlert().GetClearTime() != nil
	})
	list, err = m.kpis.ListAnalyticsAlerts(ctx, &analyticsv1.ListAnalyticsAlertsRequest{OpenOnly: true})
	if err != nil || len(list.GetAlerts()) != 0 {
		t.Fatalf("open alerts after clearing %v (%v), want none", list.GetAlerts(), err)
	}
}

// proxy forwards TCP connections to a target until cut, and again after restore, on the
// same address: a source that goes down and comes back.
type proxy struct {
	target, addr string
	mu           sync.Mutex
	lis          net.Listener
	conns        []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = lis.Addr().String()
	p.serve(lis)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(lis net.Listener) {
	p.mu.Lock()
	p.lis = lis
	p.mu.Unlock()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

// cut closes the listener and every forwarded connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis != nil {
		p.lis.Close()
		p.lis = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens on the same address again.
func (p *proxy) restore(t *testing.T) {
	lis, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(lis)
}

// TestSourceDown: while booking is unreachable analytics keeps answering (with what it
// has), raises a consumer lag alert for booking once the stream has been silent too
// long, and after booking is back it applies what happened meanwhile and the alert clears.
func TestSourceDown(t *testing.T) {
	clk := &clock{}
	var px *proxy
	m := newMesh(t, func(c *analyticsapp.Config) {
		c.Now = clk.Now
		c.Rules = analytics.DefaultAlertRules
		c.Rules.LagAge = time.Minute
		px = newProxy(t, c.Sources["booking"])
		c.Sources["booking"] = px.addr
	})
	today := time.Now().UTC().Truncate(24 * time.Hour)
	p := m.property(t)
	m.confirm(t, m.stay(t, p.GetId(), 1, today.AddDate(0, 0, 3), today.AddDate(0, 0, 4)).GetId())
	m.waitSynced(t)
	bookings := func() int64 {
		rows := m.query(t, today, today.AddDate(0, 0, 10), analyticsv1.Granularity_GRANULARITY_TOTAL, analyticsv1.Dimension_DIMENSION_UNSPECIFIED)
		if len(rows) == 0 {
			return 0
		}
		return rows[0].GetBookings().GetBookings()
	}
	if n := bookings(); n != 1 {
		t.Fatalf("bookings before the outage = %d, want 1", n)
	}

	px.cut()
	m.confirm(t, m.stay(t, p.GetId(), 2, today.AddDate(0, 0, 5), today.AddDate(0, 0, 6)).GetId())
	clk.Advance(2 * time.Minute)
	if n := bookings(); n != 1 {
		t.Fatalf("bookings while booking is unreachable = %d, want the 1 applied before", n)
	}
	// The jump makes every stream look silent until its next heartbeat (every 5 s):
	// then only booking's stays silent.
	grpctest.Eventually(t, 15*time.Second, "a consumer lag alert open for booking alone", func() bool {
		if _, _, err := m.svc.EvaluateAlerts(grpctest.Context(t)); err != nil {
			t.Fatal(err)
		}
		list, err := m.kpis.ListAnalyticsAlerts(grpctest.Context(t), &analyticsv1.ListAnalyticsAlertsRequest{OpenOnly: true})
		a := list.GetAlerts()
		return err == nil && len(a) == 1 && a[0].GetRule() == analyticsv1.AlertRule_ALERT_RULE_CONSUMER_LAG && a[0].GetSubject() == "booking"
	})

	px.restore(t)
	m.waitSynced(t)
	if n := bookings(); n != 2 {
		t.Fatalf("bookings after booking came back = %d, want 2", n)
	}
	grpctest.Eventually(t, 10*time.Second, "the lag alert clears", func() bool {
		if _, _, err := m.svc.EvaluateAlerts(grpctest.Context(t)); err != nil {
			t.Fatal(err)
		}
		list, err := m.kpis.ListAnalyticsAlerts(grpctest.Context(t), &analyticsv1.ListAnalyticsAlertsRequest{OpenOnly: true})
		return err == nil && len(list.GetAlerts()) == 0
	})
}
