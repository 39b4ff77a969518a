package accountgrpc_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/account/accountapp"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clock is a test's clock: the real time plus an offset the test moves.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// advance moves the clock forward by d.
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// harness is an account server on loopback, started as accountapp.Spec describes it on a
// fresh database, with clients for each role.
type harness struct {
	srv      *grpctest.Server
	pool     *pgxpool.Pool
	clock    *clock
	operator accountv1.AccountServiceClient
	service  accountv1.AccountServiceClient
	driver   accountv1.AccountServiceClient
	anon     accountv1.AccountServiceClient
}

// testConfig is the default configuration on the test's clock.
func testConfig(c *clock) accountapp.Config {
	cfg := accountapp.DefaultConfig()
	cfg.CodeSecret = "test-code-secret-0123456789"
	cfg.Now = c.now
	return cfg
}

func start(t testing.TB) *harness {
	t.Helper()
	c := &clock{}
	return startWith(t, c, testConfig(c))
}

func startWith(t testing.TB, c *clock, cfg accountapp.Config) *harness {
	t.Helper()
	spec := accountapp.Spec()
	spec.Register = func(ctx context.Context, d serve.Deps) error { return accountapp.Register(ctx, d, cfg) }
	s := grpctest.Start(t, spec)
	return &harness{
		srv:      s,
		pool:     s.Pool,
		clock:    c,
		operator: client(s, auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}),
		service:  client(s, auth.Identity{Subject: "notification", Role: auth.RoleService}),
		driver:   client(s, auth.Identity{Subject: "drv-1", Role: auth.RoleDriver}),
		anon:     client(s, auth.Identity{}),
	}
}

func client(s *grpctest.Server, id auth.Identity) accountv1.AccountServiceClient {
	return accountv1.NewAccountServiceClient(s.Conn(id))
}

// as returns a client calling as customer id.
func (h *harness) as(id string) accountv1.AccountServiceClient {
	return client(h.srv, auth.Identity{Subject: id, Role: auth.RoleCustomer})
}

var customers atomic.Int64

// newCustomer returns a fresh customer subject.
func newCustomer() string { return fmt.Sprintf("cust-%d", customers.Add(1)) }

// signUp creates customer id's account as the customer, with an email and a phone.
func (h *harness) signUp(t testing.TB, id string) *accountv1.Account {
	t.Helper()
	resp, err := h.as(id).CreateAccount(grpctest.Context(t), &accountv1.CreateAccountRequest{Account: &accountv1.Account{
		Profile: &accountv1.Profile{DisplayName: "Ada Traveller", Locale: "de-DE", TimeZone: "Europe/Berlin"},
		Email:   &accountv1.Contact{Address: id + "@Example.COM"},
		Phone:   &accountv1.Contact{Address: "+4915112345678"},
	}})
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return resp.GetAccount()
}

// get returns account id as an operator sees it in VIEW_FULL.
func (h *harness) get(t testing.TB, id string) *accountv1.Account {
	t.Helper()
	resp, err := h.operator.GetAccount(grpctest.Context(t), &accountv1.GetAccountRequest{AccountId: id, View: 3})
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	return resp.GetAccount()
}

// update changes paths of account a as the customer a.Id.
func (h *harness) update(t testing.TB, a *accountv1.Account, paths ...string) (*accountv1.Account, error) {
	t.Helper()
	resp, err := h.as(a.GetId()).UpdateAccount(grpctest.Context(t), &accountv1.UpdateAccountRequest{
		Account: a, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
	})
	return resp.GetAccount(), err
}

// count returns the number of rows of a table.
func (h *harness) count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// writes returns the rows of the tables a mutation writes, to check that a refused call
// wrote nothing.
func (h *harness) writes(t testing.TB) string {
	t.Helper()
	var s string
	err := h.pool.QueryRow(t.Context(), `SELECT concat_ws('/',
		(SELECT count(*) FROM account), (SELECT coalesce(sum(version), 0) FROM account),
		(SELECT count(*) FROM verification_code), (SELECT coalesce(sum(attempts), 0) FROM verification_code),
		(SELECT count(*) FROM outbox) + (SELECT count(*) FROM event_log),
		(SELECT count(*) FROM idempotency_keys))`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// event is one event of the account stream with its decoded payload.
type event struct {
	typ, key string
	payload  proto.Message
}

// events subscribes to the account service's event stream from the start, as the
// notification service does, and returns the events until want holds for them (or
// fails the test after 15 s).
func (h *harness) events(t testing.TB, want func([]event) bool) []event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	stream, err := eventsv1.NewEventStreamServiceClient(h.srv.Conn(auth.Identity{Subject: "notification", Role: auth.RoleService})).
		Subscribe(ctx, &eventsv1.SubscribeRequest{Service: "account", PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	var got []event
	for !want(got) {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Subscribe: %v after %d events", err, len(got))
		}
		if resp.GetEvent() == nil {
			continue
		}
		m, err := resp.GetEvent().GetPayload().UnmarshalNew()
		if err != nil {
			t.Fatalf("payload of %s: %v", resp.GetEvent().GetType(), err)
		}
		got = append(got, event{typ: resp.GetEvent().GetType(), key: resp.GetEvent().GetKey(), payload: m})
	}
	return got
}

// lastOf returns a condition that holds once an event of type typ for key arrived.
func lastOf(typ, key string) func([]event) bool {
	return func(evs []event) bool {
		for _, e := range evs {
			if e.typ == typ && e.key == key {
				return true
			}
		}
		return false
	}
}

// find returns the events of type typ for key.
func find(evs []event, typ, key string) []event {
	var out []event
	for _, e := range evs {
		if e.typ == typ && e.key == key {
			out = append(out, e)
		}
	}
	return out
}

// issuedCode waits for the code issued to account id's contact kind (the last one) and
// returns it, as the notification service would read it from the event.
func (h *harness) issuedCode(t testing.TB, id string, n int) *accountv1.VerificationCodeIssuedEvent {
	t.Helper()
	evs := h.events(t, func(evs []event) bool { return len(find(evs, "account.verification_code.issued", id)) >= n })
	codes := find(evs, "account.verification_code.issued", id)
	return codes[n-1].payload.(*accountv1.VerificationCodeIssuedEvent)
}
