package billinggrpc

import (
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/billing/billing"
)

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func moneyToProto(m money.Money) *typev1.Money {
	if m.Currency == "" {
		return nil
	}
	return &typev1.Money{AmountMinor: m.Amount, CurrencyCode: m.Currency}
}

func moneys(ms []money.Money) []*typev1.Money {
	out := make([]*typev1.Money, 0, len(ms))
	for _, m := range ms {
		out = append(out, moneyToProto(m))
	}
	return out
}

// billToProto converts a bill with its items, totals and, when fetched, details.
func billToProto(b billing.Bill) *billingv1.Bill {
	pb := &billingv1.Bill{
		Id: b.ID, CustomerId: b.CustomerID, CurrencyCode: b.Currency, Status: billingv1.BillStatus(b.Status),
		SubStatus: b.SubStatus, Totals: moneys(b.Totals()), CreateTime: timestamp(b.CreateTime),
		UpdateTime: timestamp(b.UpdateTime), FinalizeTime: timestamp(b.FinalizeTime), PaidTime: timestamp(b.PaidTime),
		SettleTime: timestamp(b.SettleTime), CancelTime: timestamp(b.CancelTime), CancelReason: b.CancelReason,
		Version: b.Version, PaymentId: b.PaymentID,
	}
	pb.PaymentSaga = sagaToProto(b.Saga)
	pb.Items = make([]*billingv1.BillItem, 0, len(b.Items))
	blocks := newItemBlocks(len(b.Items))
	for _, it := range b.Items {
		pb.Items = append(pb.Items, itemToProto(blocks, it))
	}
	return pb
}

// itemBlocks hands out the messages of a bill's items from three allocations, instead of
// about seven per item (a panel page has hundreds of items, and garbage collection is a
// large share of its cost). The messages are never copied: each is used where it lies.
type itemBlocks struct {
	items []billingv1.BillItem
	times []timestamppb.Timestamp
	money []typev1.Money
}

// newItemBlocks returns blocks for n items.
func newItemBlocks(n int) *itemBlocks {
	return &itemBlocks{items: make([]billingv1.BillItem, 0, n),
		times: make([]timestamppb.Timestamp, 0, 4*n), money: make([]typev1.Money, 0, 2*n)}
}

func (a *itemBlocks) item() *billingv1.BillItem {
	if len(a.items) == cap(a.items) {
		return &billingv1.BillItem{}
	}
	a.items = a.items[:len(a.items)+1]
	return &a.items[len(a.items)-1]
}

func (a *itemBlocks) timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	if len(a.times) == cap(a.times) {
		return timestamppb.New(t)
	}
	a.times = a.times[:len(a.times)+1]
	ts := &a.times[len(a.times)-1]
	ts.Seconds, ts.Nanos = t.Unix(), int32(t.Nanosecond())
	return ts
}

func (a *itemBlocks) amount(m money.Money) *typev1.Money {
	if m.Currency == "" {
		return nil
	}
	if len(a.money) == cap(a.money) {
		return moneyToProto(m)
	}
	a.money = a.money[:len(a.money)+1]
	pm := &a.money[len(a.money)-1]
	pm.AmountMinor, pm.CurrencyCode = m.Amount, m.Currency
	return pm
}

// itemToProto converts one item, its messages taken from blocks.
func itemToProto(blocks *itemBlocks, it billing.Item) *billingv1.BillItem {
	pb := blocks.item()
	pb.Id, pb.Kind, pb.Provider, pb.ReservationId = it.ID, reservationv1.Kind(it.Kind), it.Provider, it.ReservationID
	pb.BilledAmount, pb.Freshness = blocks.amount(it.Billed), billingv1.FreshnessState(it.Freshness.State)
	pb.AsOfTime, pb.CreateTime, pb.UpdateTime = blocks.timestamp(it.Freshness.AsOf), blocks.timestamp(it.CreateTime), blocks.timestamp(it.UpdateTime())
	if s := it.Summary; s != nil {
		pb.MainStatus = reservationv1.MainStatus(s.MainStatus)
		pb.SubStatus = s.SubStatus
		pb.Amount = blocks.amount(s.Amount)
		pb.Title = s.Title
		pb.ProviderUpdateTime = blocks.timestamp(s.UpdateTime)
		pb.ProviderVersion = s.Version
	}
	if d := it.Details; d != nil {
		pb.DetailsStatus = billingv1.DetailsStatus(d.Status)
		switch d.Status {
		case billing.LookupFound:
			setDetails(pb, d.Raw)
		case billing.LookupUnavailable:
			pb.DetailsError = d.Error
		}
	}
	return pb
}

// itemDetailsField is the number of BillItem's details field.
var itemDetailsField = (&billingv1.BillItem{}).ProtoReflect().Descriptor().Fields().ByName("details").Number()

// setDetails sets item's details to raw, the encoded ReservationDetails the provider
// sent, without decoding it: raw is appended as the encoded details field to the item's
// unknown fields, which are marshaled as they are. A client decoding the item finds its
// details field set as if billing had decoded and re-encoded them (see
// providerclient/raw.go for why it does not).
func setDetails(item *billingv1.BillItem, raw []byte) {
	if raw == nil {
		return
	}
	b := make([]byte, 0, protowire.SizeTag(itemDetailsField)+protowire.SizeBytes(len(raw)))
	b = protowire.AppendTag(b, itemDetailsField, protowire.BytesType)
	b = protowire.AppendBytes(b, raw)
	item.ProtoReflect().SetUnknown(b)
}

// BillEvent is the payload of every billing event (billingpg.Options.BillEvent): the
// bill after the change, without freshness (computed when read) or details.
func BillEvent(b billing.Bill, it *billing.Item) proto.Message {
	ev := &billingv1.BillEvent{Bill: billToProto(b)}
	if it != nil {
		ev.Item = itemToProto(newItemBlocks(1), *it)
	}
	return ev
}

func viewOf(v typev1.View) billing.View { return billing.View(v) }

func statusesOf(in []billingv1.BillStatus) []billing.Status {
	out := make([]billing.Status, len(in))
	for i, s := range in {
		out[i] = billing.Status(s)
	}
	return out
}

func balanceToProto(b billing.Balance) *billingv1.CustomerBalance {
	return &billingv1.CustomerBalance{
		CustomerId: b.CustomerID, Outstanding: moneys(b.Outstanding), Open: moneys(b.Open),
		UnpaidBillCount: int32(b.UnpaidCount), OldestUnpaidFinalizeTime: timestamp(b.OldestUnpaid),
		ComputeTime: timestamp(b.ComputeTime),
	}
}

func standingToProto(s billing.Standing) *billingv1.AccountStanding {
	return &billingv1.AccountStanding{
		CustomerId: s.CustomerID, Standing: billingv1.Standing(s.Level), ReasonCode: s.ReasonCode, Reason: s.Reason,
		Outstanding: moneys(s.Outstanding), OverdueBillIds: s.OverdueBillIDs, ComputeTime: timestamp(s.ComputeTime),
	}
}

// sagaToProto converts a bill's latest pay saga; nil before the first PayBill.
func sagaToProto(s *billing.Saga) *billingv1.PaymentSaga {
	if s == nil {
		return nil
	}
	return &billingv1.PaymentSaga{
		Id: s.ID, State: billingv1.PaymentSagaState(s.State), Step: billingv1.PaymentSagaStep(s.Step),
		PaymentMethodId: s.PaymentMethodID, Amount: moneyToProto(s.Amount), PaymentId: s.PaymentID,
		FailureCode: s.FailureCode, FailureMessage: s.FailureMessage, FailedItemIds: s.FailedItemIDs,
		Attempt: int32(s.Attempt), StartTime: timestamp(s.StartTime), UpdateTime: timestamp(s.UpdateTime),
		EndTime: timestamp(s.EndTime),
	}
}
