package accountgate_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/accountgate"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// event returns an account event of typ whose account is id at version with status.
func event(t *testing.T, typ, id string, version int64, status accountv1.AccountStatus) *eventsv1.Event {
	t.Helper()
	a := &accountv1.Account{Id: id, Version: version, Status: status}
	if status == accountv1.AccountStatus_ACCOUNT_STATUS_SUSPENDED {
		a.Suspension = &accountv1.Suspension{Reason: "fraud"}
	}
	var m proto.Message = &accountv1.AccountReinstatedEvent{Account: a}
	if typ == accountgate.EventSuspended {
		m = &accountv1.AccountSuspendedEvent{Account: a}
	}
	payload, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return &eventsv1.Event{Id: "e", Type: typ, Key: id, Payload: payload}
}

// TestGateFollowsTheEventsInVersionOrder: the gate refuses a customer once their
// suspension is applied and admits them after the reinstatement; an event older than
// what the gate holds (a replay) changes nothing; unknown customers and a nil gate admit.
func TestGateFollowsTheEventsInVersionOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t, "gated", pgxutil.MustMergeMigrations(consumer.Migrations, accountgate.Migrations))
	runner := txn.New(pool, txn.Options{})
	apply := func(ev *eventsv1.Event) {
		t.Helper()
		if err := runner.Run(ctx, func(tx *txn.Tx) error { return accountgate.Handle(ctx, tx, ev) }); err != nil {
			t.Fatalf("Handle(%s v%s): %v", ev.GetType(), ev.GetKey(), err)
		}
	}
	gate := accountgate.New(pool)
	suspended := func(id string) bool {
		t.Helper()
		err := gate.CheckCustomer(ctx, id)
		if err == nil {
			return false
		}
		if e, ok := errs.As(err); !ok || e.Kind != errs.FailedPrecondition || e.Reason != accountgate.ReasonCustomerSuspended {
			t.Fatalf("CheckCustomer(%s) = %v, want FAILED_PRECONDITION CUSTOMER_SUSPENDED", id, err)
		}
		return true
	}
	const ada, bo = "cust-ada", "cust-bo"
	if suspended(ada) {
		t.Fatal("a customer the gate never heard of is refused")
	}
	apply(event(t, accountgate.EventSuspended, ada, 3, accountv1.AccountStatus_ACCOUNT_STATUS_SUSPENDED))
	if !suspended(ada) || suspended(bo) {
		t.Fatal("after ada's suspension: want ada refused and bo admitted")
	}
	apply(event(t, accountgate.EventReinstated, ada, 4, accountv1.AccountStatus_ACCOUNT_STATUS_ACTIVE))
	if suspended(ada) {
		t.Fatal("ada is refused after the reinstatement")
	}
	// A replay of the older suspension does not undo the newer reinstatement.
	apply(event(t, accountgate.EventSuspended, ada, 3, accountv1.AccountStatus_ACCOUNT_STATUS_SUSPENDED))
	if suspended(ada) {
		t.Fatal("an older event overwrote a newer one")
	}
	apply(event(t, accountgate.EventSuspended, ada, 5, accountv1.AccountStatus_ACCOUNT_STATUS_SUSPENDED))
	if !suspended(ada) {
		t.Fatal("ada's second suspension is not applied")
	}
	// Other event types are ignored; an event without an account is an error (parked).
	if err := runner.Run(ctx, func(tx *txn.Tx) error {
		return accountgate.Handle(ctx, tx, &eventsv1.Event{Type: "account.account.updated", Key: ada})
	}); err != nil {
		t.Fatalf("an ignored type: %v", err)
	}
	bad := event(t, accountgate.EventSuspended, "", 1, accountv1.AccountStatus_ACCOUNT_STATUS_SUSPENDED)
	if err := runner.Run(ctx, func(tx *txn.Tx) error { return accountgate.Handle(ctx, tx, bad) }); err == nil {
		t.Fatal("an event without an account id was applied")
	}
	var nilGate *accountgate.Gate
	if err := nilGate.CheckCustomer(ctx, ada); err != nil {
		t.Fatalf("a nil gate refused: %v", err)
	}
	if !errors.Is(gate.CheckCustomer(ctx, ada), errs.FailedPrecondition) {
		t.Fatal("the gate's refusal is not a FailedPrecondition kind")
	}
}

// BenchmarkCheckCustomer measures what the gate adds to a gated request: one primary-key
// read of the service's own table (go test -run '^$' -bench . ./kit/accountgate/).
func BenchmarkCheckCustomer(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewDB(b, "gated", pgxutil.MustMergeMigrations(consumer.Migrations, accountgate.Migrations))
	if _, err := pool.Exec(ctx, `INSERT INTO customer_suspension (customer_id, suspended, version, update_time)
		SELECT 'cust-' || i, i % 100 = 0, 1, now() FROM generate_series(1, 10000) i`); err != nil {
		b.Fatal(err)
	}
	gate := accountgate.New(pool)
	for i := 0; b.Loop(); i++ {
		if err := gate.CheckCustomer(ctx, "cust-"+strconv.Itoa(1+i%10000)); err != nil && (1+i%10000)%100 != 0 {
			b.Fatal(err)
		}
	}
}
