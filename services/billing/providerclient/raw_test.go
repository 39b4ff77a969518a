package providerclient

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/services/billing/billing"
)

// TestSplitResults reads a reply the way Details does (as an empty message) and checks
// that every result comes out with its id, status and exactly the provider's details.
func TestSplitResults(t *testing.T) {
	details := &reservationv1.ReservationDetails{
		Id: "r1", Kind: reservationv1.Kind_KIND_FLIGHT, MainStatus: reservationv1.MainStatus_MAIN_STATUS_CONFIRMED,
		CustomerId: "cust-1", Amount: &typev1.Money{AmountMinor: 1250, CurrencyCode: "EUR"}, Title: "LH 100",
		UpdateTime: timestamppb.Now(), Version: 3,
		KindDetails: &reservationv1.ReservationDetails_Seat{Seat: &reservationv1.SeatDetails{Carrier: "LH", Number: "100"}},
	}
	reply := &reservationv1.GetReservationDetailsResponse{Results: []*reservationv1.ReservationResult{
		{Id: "r1", Status: reservationv1.ReservationResult_STATUS_FOUND, Details: details},
		{Id: "r2", Status: reservationv1.ReservationResult_STATUS_NOT_FOUND},
		{Id: "r3", Status: reservationv1.ReservationResult_STATUS_DENIED},
	}}
	wire, err := proto.Marshal(reply)
	if err != nil {
		t.Fatal(err)
	}
	// A field this billing does not know (added to the contract later) is skipped.
	wire = protowire.AppendTag(wire, 99, protowire.BytesType)
	wire = protowire.AppendString(wire, "from the future")
	var empty emptypb.Empty
	if err := proto.Unmarshal(wire, &empty); err != nil {
		t.Fatal(err)
	}
	results, err := splitResults(empty.ProtoReflect().GetUnknown())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("%d results, want 3", len(results))
	}
	var got reservationv1.ReservationDetails
	if err := proto.Unmarshal(results[0].details, &got); err != nil || !proto.Equal(&got, details) {
		t.Fatalf("details = %v (%v), want %v", &got, err, details)
	}
	for i, want := range []rawResult{{id: "r1", status: reservationv1.ReservationResult_STATUS_FOUND},
		{id: "r2", status: reservationv1.ReservationResult_STATUS_NOT_FOUND}, {id: "r3", status: reservationv1.ReservationResult_STATUS_DENIED}} {
		if results[i].id != want.id || results[i].status != want.status {
			t.Errorf("result %d = %s %v, want %s %v", i, results[i].id, results[i].status, want.id, want.status)
		}
	}

	// Lookups: the summary is decoded for VIEW_BASIC only; an answer for another id
	// than the one asked is unavailable.
	basic := lookup("booking", "r1", results[0], billing.ViewBasic)
	if basic.Status != billing.LookupFound || basic.Summary.Title != "LH 100" || basic.Summary.Amount.Amount != 1250 || basic.Summary.Version != 3 {
		t.Errorf("basic lookup = %+v", basic)
	}
	if full := lookup("booking", "r1", results[0], billing.ViewFull); full.Summary.Title != "" || string(full.Raw) != string(results[0].details) {
		t.Errorf("full lookup decoded its summary or changed its details: %+v", full)
	}
	if l := lookup("booking", "r9", results[0], billing.ViewFull); l.Status != billing.LookupUnavailable {
		t.Errorf("lookup of r9 answered for r1 = %+v, want unavailable", l)
	}
	if l := lookup("booking", "r2", results[1], billing.ViewFull); l.Status != billing.LookupNotFound {
		t.Errorf("lookup r2 = %+v", l)
	}

	// A truncated reply is an error, not a short list.
	for _, cut := range []int{1, 7, len(wire) / 2} {
		if _, err := splitResults(wire[:len(wire)-cut]); !errors.Is(err, errMalformed) {
			t.Errorf("reply cut by %d bytes: err = %v, want errMalformed", cut, err)
		}
	}
}
