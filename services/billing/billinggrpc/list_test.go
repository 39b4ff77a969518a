package billinggrpc_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/billing/internal/providertest"
)

func TestListBillsBasic(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	var ids []string
	for range 7 {
		b := e.openBill(t)
		ids = append(ids, b.GetId())
	}
	other, err := e.customer2.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-2", CurrencyCode: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	// Finalize two of cust-1's bills (each needs an item).
	for _, id := range ids[:2] {
		r := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_BUS, CustomerID: "cust-1", Amount: 500})
		e.add(t, id, reservationv1.Kind_KIND_BUS, r)
		if _, err := e.customer.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: id}); err != nil {
			t.Fatal(err)
		}
	}
	e.providers["booking"].Calls.Store(0)
	e.calls.Reset()

	// Pages of 3 over all 8 bills, most recently changed first, without repeats.
	seen := map[string]bool{}
	var prev time.Time
	token := ""
	pages := 0
	for {
		resp, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, b := range resp.GetBills() {
			if seen[b.GetId()] {
				t.Fatalf("bill %s listed twice", b.GetId())
			}
			seen[b.GetId()] = true
			if ut := b.GetUpdateTime().AsTime(); !prev.IsZero() && ut.After(prev) {
				t.Fatalf("bills out of order: %v after %v", ut, prev)
			}
			prev = b.GetUpdateTime().AsTime()
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seen) != 8 || pages != 3 {
		t.Fatalf("listed %d bills in %d pages, want 8 in 3", len(seen), pages)
	}
	// A token is only good for the filters it was issued for.
	first, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.operator.ListBills(ctx, &billingv1.ListBillsRequest{PageSize: 3, PageToken: first.GetNextPageToken(), CustomerId: "cust-1"})
	grpctest.WantField(t, err, "page_token")

	// Filters.
	byStatus, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{Statuses: []billingv1.BillStatus{billingv1.BillStatus_BILL_STATUS_FINALIZED}})
	if err != nil {
		t.Fatal(err)
	}
	if len(byStatus.GetBills()) != 2 || len(byStatus.GetBills()[0].GetItems()) != 1 {
		t.Fatalf("finalized bills = %d, want 2 with their item", len(byStatus.GetBills()))
	}
	item := byStatus.GetBills()[0].GetItems()[0]
	if item.GetTitle() == "" || item.GetAmount().GetAmountMinor() != 500 || item.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_UNSPECIFIED || item.GetDetails() != nil {
		t.Fatalf("BASIC item = %v", item)
	}
	if item.GetFreshness() == billingv1.FreshnessState_FRESHNESS_STATE_UNSPECIFIED {
		t.Errorf("item freshness unspecified")
	}
	byCustomer, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{CustomerId: "cust-2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(byCustomer.GetBills()) != 1 || byCustomer.GetBills()[0].GetId() != other.GetBill().GetId() {
		t.Fatalf("cust-2's bills = %v", byCustomer.GetBills())
	}
	mine, err := e.customer.ListBills(ctx, &billingv1.ListBillsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine.GetBills()) != 7 {
		t.Fatalf("cust-1 lists %d bills, want 7", len(mine.GetBills()))
	}
	since := byStatus.GetBills()[1].GetUpdateTime() // the older finalized bill
	changed, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{ChangedSince: since})
	if err != nil {
		t.Fatal(err)
	}
	if len(changed.GetBills()) != 2 {
		t.Fatalf("bills changed since %v = %d, want the 2 finalized ones", since.AsTime(), len(changed.GetBills()))
	}
	future, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{ChangedSince: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if len(future.GetBills()) != 0 {
		t.Fatalf("bills changed in the future = %d", len(future.GetBills()))
	}
	// BASIC never calls a provider.
	if n := e.calls.Count(detailsMethod); n != 0 {
		t.Fatalf("BASIC lists made %d GetReservationDetails calls", n)
	}
	// Listing works with every provider down.
	for _, p := range e.providers {
		p.Stop()
	}
	down, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{View: typev1.View_VIEW_BASIC})
	if err != nil || len(down.GetBills()) != 8 {
		t.Fatalf("BASIC list with providers down: %d bills, %v", len(down.GetBills()), err)
	}
}
