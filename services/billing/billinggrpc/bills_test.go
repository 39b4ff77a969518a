package billinggrpc_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/billing/internal/providertest"
)

func TestBillLifecycle(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)

	created, err := e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR", RequestId: "open-1"})
	if err != nil {
		t.Fatal(err)
	}
	bill := created.GetBill()
	if bill.GetStatus() != billingv1.BillStatus_BILL_STATUS_OPEN || bill.GetVersion() != 1 {
		t.Fatalf("new bill = %v", bill)
	}
	// The same request id opens no second bill.
	again, err := e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR", RequestId: "open-1"})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetBill().GetId() != bill.GetId() || e.count(t, "bills") != 1 {
		t.Fatalf("retry opened %s (%d bills), want %s", again.GetBill().GetId(), e.count(t, "bills"), bill.GetId())
	}
	// Reusing it for another call fails.
	_, err = e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "USD", RequestId: "open-1"})
	grpctest.WantField(t, err, "request_id")
	// Request ids are the caller's own: another caller's "open-1" is another call.
	theirs, err := e.customer2.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-2", CurrencyCode: "USD", RequestId: "open-1"})
	if err != nil || theirs.GetBill().GetId() == bill.GetId() || theirs.GetBill().GetCustomerId() != "cust-2" {
		t.Fatalf("another caller's open-1 = %v, %v; want a bill of its own", theirs.GetBill(), err)
	}

	flight := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_FLIGHT, CustomerID: "cust-1", Amount: 12000, Title: "LH 1234 FRA → JFK"})
	ride := e.reserve(t, "trip", providertest.Reservation{Kind: reservationv1.Kind_KIND_RIDE, CustomerID: "cust-1", Amount: 2500})
	ferry := e.reserve(t, "ferry", providertest.Reservation{Kind: kindFerry, CustomerID: "cust-1", Amount: 4000})

	added, err := e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: bill.GetId(), Kind: reservationv1.Kind_KIND_FLIGHT, ReservationId: flight, RequestId: "add-1"})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: bill.GetId(), Kind: reservationv1.Kind_KIND_FLIGHT, ReservationId: flight, RequestId: "add-1"})
	if err != nil {
		t.Fatalf("retried AddBillItem: %v", err)
	}
	if retry.GetItemId() != added.GetItemId() || e.count(t, "bill_items") != 1 {
		t.Fatalf("retry added item %s (%d items), want %s", retry.GetItemId(), e.count(t, "bill_items"), added.GetItemId())
	}
	it := added.GetBill().GetItems()[0]
	if it.GetProvider() != "booking" || it.GetTitle() != "LH 1234 FRA → JFK" || it.GetAmount().GetAmountMinor() != 12000 ||
		it.GetMainStatus() != reservationv1.MainStatus_MAIN_STATUS_PENDING || it.GetProviderVersion() != 1 {
		t.Fatalf("item = %v", it)
	}
	e.add(t, bill.GetId(), reservationv1.Kind_KIND_RIDE, ride)
	withFerry := e.add(t, bill.GetId(), kindFerry, ferry)
	b := withFerry.GetBill()
	if len(b.GetItems()) != 3 || len(b.GetTotals()) != 1 || b.GetTotals()[0].GetAmountMinor() != 18500 {
		t.Fatalf("bill = %v, want 3 items totalling 18500 EUR", b)
	}
	if b.GetItems()[2].GetProvider() != "ferry" || b.GetItems()[2].GetKind() != kindFerry {
		t.Fatalf("ferry item = %v", b.GetItems()[2])
	}

	// Remove the ride, then finalize at the version the customer saw.
	removed, err := e.customer.RemoveBillItem(ctx, &billingv1.RemoveBillItemRequest{BillId: b.GetId(), ItemId: b.GetItems()[1].GetId()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.customer.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: b.GetId(), ExpectedVersion: b.GetVersion()})
	grpctest.WantReason(t, err, codes.Aborted, "VERSION_MISMATCH")
	fin, err := e.customer.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: b.GetId(), ExpectedVersion: removed.GetBill().GetVersion()})
	if err != nil {
		t.Fatal(err)
	}
	fb := fin.GetBill()
	if fb.GetStatus() != billingv1.BillStatus_BILL_STATUS_FINALIZED || fb.GetFinalizeTime() == nil || fb.GetTotals()[0].GetAmountMinor() != 16000 {
		t.Fatalf("finalized bill = %v", fb)
	}
	for _, it := range fb.GetItems() {
		if it.GetBilledAmount().GetAmountMinor() != it.GetAmount().GetAmountMinor() {
			t.Errorf("item %s billed %v, amount %v", it.GetId(), it.GetBilledAmount(), it.GetAmount())
		}
	}
	_, err = e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: b.GetId(), Kind: reservationv1.Kind_KIND_RIDE, ReservationId: ride})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "BILL_NOT_OPEN")
	_, err = e.customer.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: b.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "BILL_NOT_OPEN")

	// Outstanding is the finalized bill; standing is good within the grace period.
	bal, err := e.customer.GetCustomerBalance(ctx, &billingv1.GetCustomerBalanceRequest{CustomerId: "cust-1"})
	if err != nil {
		t.Fatal(err)
	}
	if o := bal.GetBalance().GetOutstanding(); len(o) != 1 || o[0].GetAmountMinor() != 16000 || bal.GetBalance().GetUnpaidBillCount() != 1 {
		t.Fatalf("balance = %v", bal.GetBalance())
	}
	st, err := e.service.GetAccountStanding(ctx, &billingv1.GetAccountStandingRequest{CustomerId: "cust-1"})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetStanding().GetStanding() != billingv1.Standing_STANDING_GOOD || st.GetStanding().GetOutstanding()[0].GetAmountMinor() != 16000 {
		t.Fatalf("standing = %v", st.GetStanding())
	}

	// Sub-status: operators only; the same value again changes nothing.
	_, err = e.customer.SetBillSubStatus(ctx, &billingv1.SetBillSubStatusRequest{BillId: b.GetId(), SubStatus: "x"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	s1, err := e.operator.SetBillSubStatus(ctx, &billingv1.SetBillSubStatusRequest{BillId: b.GetId(), SubStatus: "awaiting_po_number"})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := e.operator.SetBillSubStatus(ctx, &billingv1.SetBillSubStatusRequest{BillId: b.GetId(), SubStatus: "awaiting_po_number"})
	if err != nil {
		t.Fatal(err)
	}
	if s2.GetBill().GetVersion() != s1.GetBill().GetVersion() || s1.GetBill().GetSubStatus() != "awaiting_po_number" {
		t.Fatalf("sub-status versions %d then %d", s1.GetBill().GetVersion(), s2.GetBill().GetVersion())
	}

	// Cancel releases the items: the flight may go on another bill.
	c, err := e.customer.CancelBill(ctx, &billingv1.CancelBillRequest{BillId: b.GetId(), Reason: "changed plans"})
	if err != nil {
		t.Fatal(err)
	}
	if c.GetBill().GetStatus() != billingv1.BillStatus_BILL_STATUS_CANCELLED || c.GetBill().GetCancelReason() != "changed plans" {
		t.Fatalf("cancelled bill = %v", c.GetBill())
	}
	_, err = e.customer.CancelBill(ctx, &billingv1.CancelBillRequest{BillId: b.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "BILL_NOT_CANCELLABLE")
	other := e.openBill(t)
	e.add(t, other.GetId(), reservationv1.Kind_KIND_FLIGHT, flight)

	// A cancelled bill is not paid (pay_test.go tests the pay saga itself).
	_, err = e.customer.PayBill(ctx, &billingv1.PayBillRequest{BillId: b.GetId(), PaymentMethodId: "00000000-0000-4000-8000-000000000001", RequestId: "p"})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "BILL_NOT_PAYABLE")
}

func TestAddItemChecksWithTheProvider(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	bill := e.openBill(t)
	mine := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_TRAIN, CustomerID: "cust-1", Amount: 3000})
	theirs := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_TRAIN, CustomerID: "cust-2", Amount: 3000})
	cancelled := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_TRAIN, CustomerID: "cust-1", Amount: 3000,
		Status: reservationv1.MainStatus_MAIN_STATUS_CANCELLED})
	dollars := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_TRAIN, CustomerID: "cust-1", Amount: 3000, Currency: "USD"})
	e.providers["booking"].Calls.Store(0)

	add := func(kind reservationv1.Kind, id string) error {
		_, err := e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: bill.GetId(), Kind: kind, ReservationId: id})
		return err
	}
	grpctest.WantReason(t, add(reservationv1.Kind_KIND_TRAIN, "no-such-reservation"), codes.NotFound, "RESERVATION_NOT_FOUND")
	// Another customer's reservation is, to a customer, one that does not exist
	// (TestOthersObjectsAreNotFound); an operator is told it is another customer's.
	grpctest.WantReason(t, add(reservationv1.Kind_KIND_TRAIN, theirs), codes.NotFound, "RESERVATION_NOT_FOUND")
	_, err := e.operator.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: bill.GetId(), Kind: reservationv1.Kind_KIND_TRAIN, ReservationId: theirs})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "RESERVATION_CUSTOMER_MISMATCH")
	grpctest.WantReason(t, add(reservationv1.Kind_KIND_TRAIN, cancelled), codes.FailedPrecondition, "RESERVATION_NOT_BILLABLE")
	grpctest.WantReason(t, add(reservationv1.Kind_KIND_TRAIN, dollars), codes.FailedPrecondition, "CURRENCY_MISMATCH")
	grpctest.WantField(t, add(reservationv1.Kind_KIND_BUS, mine), "kind") // a train is not a bus
	if n := e.providers["booking"].Calls.Load(); n != 6 {
		t.Errorf("provider calls = %d, want one per AddBillItem (6)", n)
	}
	if n := e.count(t, "bill_items"); n != 0 {
		t.Fatalf("%d items after failed adds, want 0", n)
	}
	if err := add(reservationv1.Kind_KIND_TRAIN, mine); err != nil {
		t.Fatal(err)
	}
	grpctest.WantReason(t, add(reservationv1.Kind_KIND_TRAIN, mine), codes.AlreadyExists, "RESERVATION_ALREADY_BILLED")
	second := e.openBill(t)
	_, err = e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: second.GetId(), Kind: reservationv1.Kind_KIND_TRAIN, ReservationId: mine})
	grpctest.WantCode(t, err, codes.AlreadyExists)
	if n := e.count(t, "bill_items"); n != 1 {
		t.Fatalf("%d items, want 1", n)
	}

	// A provider that is down: UNAVAILABLE, nothing added.
	e.providers["trip"].Stop()
	_, err = e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: bill.GetId(), Kind: reservationv1.Kind_KIND_RIDE, ReservationId: "r-1"})
	grpctest.WantReason(t, err, codes.Unavailable, "PROVIDER_UNAVAILABLE")
	if n := e.count(t, "bill_items"); n != 1 {
		t.Fatalf("%d items, want 1", n)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	bill := e.openBill(t)
	res := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_STAY, CustomerID: "cust-1", Amount: 9000})
	e.add(t, bill.GetId(), reservationv1.Kind_KIND_STAY, res)
	res2 := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_STAY, CustomerID: "cust-1", Amount: 9000})
	id := bill.GetId()

	_, err := e.customer2.GetBill(ctx, &billingv1.GetBillRequest{BillId: id})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = e.customer2.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: id, Kind: reservationv1.Kind_KIND_STAY, ReservationId: res2})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = e.customer2.RemoveBillItem(ctx, &billingv1.RemoveBillItemRequest{BillId: id, ItemId: bill.GetId()})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = e.customer2.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: id})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = e.customer2.CancelBill(ctx, &billingv1.CancelBillRequest{BillId: id})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = e.customer2.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.customer2.ListBills(ctx, &billingv1.ListBillsRequest{CustomerId: "cust-1"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.customer2.GetCustomerBalance(ctx, &billingv1.GetCustomerBalanceRequest{CustomerId: "cust-1"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.customer2.GetAccountStanding(ctx, &billingv1.GetAccountStandingRequest{CustomerId: "cust-1"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.customer2.PayBill(ctx, &billingv1.PayBillRequest{BillId: id, PaymentMethodId: "00000000-0000-4000-8000-000000000001", RequestId: "r"})
	if code := grpcstatus.Code(err); code != codes.NotFound {
		t.Fatalf("PayBill of another customer's bill: %v", err)
	}
	// A customer's unfiltered list is their own bills only.
	list, err := e.customer2.ListBills(ctx, &billingv1.ListBillsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetBills()) != 0 {
		t.Fatalf("cust-2 sees %d bills", len(list.GetBills()))
	}
	_, err = e.anon.GetBill(ctx, &billingv1.GetBillRequest{BillId: id})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	_, err = e.anon.ListBills(ctx, &billingv1.ListBillsRequest{})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	// Nothing changed.
	got, err := e.customer.GetBill(ctx, &billingv1.GetBillRequest{BillId: id})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetBill().GetVersion() != 2 || len(got.GetBill().GetItems()) != 1 || got.GetBill().GetStatus() != billingv1.BillStatus_BILL_STATUS_OPEN {
		t.Fatalf("bill changed: %v", got.GetBill())
	}
	// Parked events are for operators.
	_, err = e.adminCust.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	if _, err := e.admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{}); err != nil {
		t.Fatalf("operator ListParkedEvents: %v", err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	bill := e.openBill(t)
	id := bill.GetId()
	long := string(make([]byte, 600))
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"create without customer", func() error {
			_, err := e.operator.CreateBill(ctx, &billingv1.CreateBillRequest{CurrencyCode: "EUR"})
			return err
		}, "customer_id"},
		{"create with bad currency", func() error {
			_, err := e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "euro"})
			return err
		}, "currency_code"},
		// Three capitals that are no ISO 4217 currency: every service refuses them
		// (kit/money), so no bill is opened that payment would refuse later.
		{"create with unknown currency", func() error {
			_, err := e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "ZZZ"})
			return err
		}, "currency_code"},
		{"create with long sub-status", func() error {
			_, err := e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR", SubStatus: long})
			return err
		}, "sub_status"},
		{"create with bad request id", func() error {
			_, err := e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR", RequestId: "has\ttab"})
			return err
		}, "request_id"},
		{"create with long request id", func() error {
			_, err := e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR", RequestId: long})
			return err
		}, "request_id"},
		{"get malformed id", func() error {
			_, err := e.customer.GetBill(ctx, &billingv1.GetBillRequest{BillId: "bill-1"})
			return err
		}, "bill_id"},
		{"add with unknown kind", func() error {
			_, err := e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: id, Kind: reservationv1.Kind(42), ReservationId: "r"})
			return err
		}, "kind"},
		{"add without kind", func() error {
			_, err := e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: id, ReservationId: "r"})
			return err
		}, "kind"},
		{"add without reservation", func() error {
			_, err := e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: id, Kind: reservationv1.Kind_KIND_FLIGHT})
			return err
		}, "reservation_id"},
		{"add with malformed bill id", func() error {
			_, err := e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: "x", Kind: reservationv1.Kind_KIND_FLIGHT, ReservationId: "r"})
			return err
		}, "bill_id"},
		{"remove malformed item", func() error {
			_, err := e.customer.RemoveBillItem(ctx, &billingv1.RemoveBillItemRequest{BillId: id, ItemId: "item"})
			return err
		}, "item_id"},
		{"finalize negative version", func() error {
			_, err := e.customer.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: id, ExpectedVersion: -1})
			return err
		}, "expected_version"},
		{"cancel with long reason", func() error {
			_, err := e.customer.CancelBill(ctx, &billingv1.CancelBillRequest{BillId: id, Reason: long})
			return err
		}, "reason"},
		{"list negative page size", func() error {
			_, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{PageSize: -1})
			return err
		}, "page_size"},
		{"list malformed token", func() error {
			_, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{PageToken: "garbage"})
			return err
		}, "page_token"},
		{"list unknown status", func() error {
			_, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{Statuses: []billingv1.BillStatus{99}})
			return err
		}, "statuses"},
		{"balance without customer", func() error {
			_, err := e.operator.GetCustomerBalance(ctx, &billingv1.GetCustomerBalanceRequest{})
			return err
		}, "customer_id"},
		{"standing without customer", func() error {
			_, err := e.operator.GetAccountStanding(ctx, &billingv1.GetAccountStandingRequest{})
			return err
		}, "customer_id"},
		{"sub-status too long", func() error {
			_, err := e.operator.SetBillSubStatus(ctx, &billingv1.SetBillSubStatusRequest{BillId: id, SubStatus: long})
			return err
		}, "sub_status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { grpctest.WantField(t, tt.call(), tt.field) })
	}
	// Wrong state and missing things.
	_, err := e.customer.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: id})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "BILL_EMPTY")
	_, err = e.customer.GetBill(ctx, &billingv1.GetBillRequest{BillId: "00000000-0000-4000-8000-000000000000"})
	grpctest.WantReason(t, err, codes.NotFound, "BILL_NOT_FOUND")
	_, err = e.customer.RemoveBillItem(ctx, &billingv1.RemoveBillItemRequest{BillId: id, ItemId: "00000000-0000-4000-8000-000000000000"})
	grpctest.WantReason(t, err, codes.NotFound, "ITEM_NOT_FOUND")
	if n := e.count(t, "bills"); n != 1 {
		t.Fatalf("%d bills, want 1", n)
	}
	got, err := e.customer.GetBill(ctx, &billingv1.GetBillRequest{BillId: id})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetBill().GetVersion() != 1 || got.GetBill().GetStatus() != billingv1.BillStatus_BILL_STATUS_OPEN {
		t.Fatalf("bill changed: %v", got.GetBill())
	}
}
