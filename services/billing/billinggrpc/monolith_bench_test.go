package billinggrpc_test

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/billing/billing"
)

// monolith is the fair baseline of BenchmarkPanel: the operator panel's ListBills FULL
// page as a monolith would answer it, from the one SQL join over billing's and the
// providers' tables (sqlJoinSQL), built into the same response billing sends, served by a
// gRPC server on the same stack (kit/grpcserver through grpctest, with the same token
// check) over the same loopback transport. It does no more than a monolith must: no
// provider calls, no read model, every item's details built from its reservation row as
// the test provider builds them (providertest's details with VIEW_FULL).
type monolith struct {
	billingv1.UnimplementedBillingServiceServer
	pool *pgxpool.Pool
}

// monolithSpec serves the monolith's ListBills on pool (a pool on billing's schema that
// also reads the providers' schemas).
func monolithSpec(pool *pgxpool.Pool) serve.Spec {
	return serve.Spec{Name: "monolith", Register: func(_ context.Context, d serve.Deps) error {
		billingv1.RegisterBillingServiceServer(d.Server.GRPC, &monolith{pool: pool})
		return nil
	}}
}

// ListBills answers the first FULL page of every bill, of the size asked.
func (m *monolith) ListBills(ctx context.Context, req *billingv1.ListBillsRequest) (*billingv1.ListBillsResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	rows, err := m.pool.Query(ctx, sqlJoinSQL, req.GetPageSize())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		resp = &billingv1.ListBillsResponse{}
		bill *billingv1.Bill
		dom  billing.Bill // for the totals
		r    joinRow
	)
	now := timestamppb.Now()
	finish := func() {
		if bill != nil {
			bill.Totals = moneysOf(dom.Totals())
		}
	}
	for rows.Next() {
		if err := r.scan(rows); err != nil {
			return nil, err
		}
		if bill == nil || bill.Id != r.billID {
			finish()
			st, _ := billing.ParseStatus(r.status)
			bill = &billingv1.Bill{Id: r.billID, CustomerId: r.customer, CurrencyCode: r.currency, Status: billingv1.BillStatus(st),
				SubStatus: r.sub, CreateTime: timestamppb.New(r.created), UpdateTime: timestamppb.New(r.updated),
				FinalizeTime: tsOf(r.finalized), PaidTime: tsOf(r.paid), SettleTime: tsOf(r.settled), CancelTime: tsOf(r.cancelled),
				CancelReason: r.cancelReason, Version: r.version, PaymentId: r.payID}
			if r.sagaID.Valid {
				bill.PaymentSaga = &billingv1.PaymentSaga{Id: r.sagaID.String,
					State:           billingv1.PaymentSagaState(billing.ParseSagaState(r.sagaState.String)),
					Step:            billingv1.PaymentSagaStep(billing.ParseSagaStep(r.sagaStep.String)),
					PaymentMethodId: r.sagaMethod.String, Amount: &typev1.Money{AmountMinor: r.sagaAmount.Int64, CurrencyCode: r.sagaCur.String},
					PaymentId: r.sagaPayment.String, FailureCode: r.sagaCode.String, FailureMessage: r.sagaMsg.String,
					FailedItemIds: r.sagaFailed, Attempt: r.sagaAttempt.Int32, StartTime: tsOf(r.sagaStart),
					UpdateTime: tsOf(r.sagaUpdate), EndTime: tsOf(r.sagaEnd)}
			}
			dom = billing.Bill{FinalizeTime: r.finalized.Time}
			if !r.finalized.Valid {
				dom.FinalizeTime = time.Time{}
			}
			resp.Bills = append(resp.Bills, bill)
		}
		amount := &typev1.Money{AmountMinor: r.ramount.Int64, CurrencyCode: r.rcur.String}
		rupdate := timestamppb.New(r.rupdated.Time)
		it := &billingv1.BillItem{Id: r.itemID, Kind: reservationv1.Kind(r.kind), Provider: r.provider, ReservationId: r.resID,
			MainStatus: reservationv1.MainStatus(r.rmain.Int32), SubStatus: r.rsub.String, Amount: amount, Title: r.rtitle.String,
			ProviderUpdateTime: rupdate, ProviderVersion: r.rversion.Int64,
			Freshness: billingv1.FreshnessState_FRESHNESS_STATE_FRESH, AsOfTime: now,
			DetailsStatus: billingv1.DetailsStatus_DETAILS_STATUS_OK, CreateTime: timestamppb.New(r.itemCreated),
			UpdateTime: timestamppb.New(r.itemCreated),
			// The reservation's FULL details, as its provider presents them.
			Details: &reservationv1.ReservationDetails{Id: r.resID, Kind: reservationv1.Kind(r.rkind.Int32),
				MainStatus: reservationv1.MainStatus(r.rmain.Int32), SubStatus: r.rsub.String, CustomerId: r.rcustomer.String,
				Amount: amount, Title: r.rtitle.String, Subtitle: "test reservation", UpdateTime: rupdate, Version: r.rversion.Int64,
				Timeline:    []*reservationv1.TimelineEntry{{Time: rupdate, Label: "changed"}},
				KindDetails: &reservationv1.ReservationDetails_Seat{Seat: &reservationv1.SeatDetails{Carrier: "TS", Number: r.resID, SeatCount: 1}}},
		}
		if r.billedMinor.Valid && r.billedCur.String != "" {
			it.BilledAmount = &typev1.Money{AmountMinor: r.billedMinor.Int64, CurrencyCode: r.billedCur.String}
		}
		bill.Items = append(bill.Items, it)
		dom.Items = append(dom.Items, billing.Item{
			Billed:  money.Money{Amount: r.billedMinor.Int64, Currency: r.billedCur.String},
			Summary: &billing.Summary{MainStatus: billing.MainStatus(r.rmain.Int32), Amount: money.Money{Amount: r.ramount.Int64, Currency: r.rcur.String}},
		})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	finish()
	return resp, nil
}

func tsOf(t pgtype.Timestamptz) *timestamppb.Timestamp {
	if !t.Valid {
		return nil
	}
	return timestamppb.New(t.Time)
}

func moneysOf(ms []money.Money) []*typev1.Money {
	out := make([]*typev1.Money, len(ms))
	for i, m := range ms {
		out[i] = &typev1.Money{AmountMinor: m.Amount, CurrencyCode: m.Currency}
	}
	return out
}

// samePage reports whether two ListBills pages are equal apart from the fields that say
// when (freshness, as-of time and the item's own update time, which billing takes from
// its read model and the monolith from the item): the same work, done two ways.
func samePage(a, b *billingv1.ListBillsResponse) bool {
	strip := func(p *billingv1.ListBillsResponse) *billingv1.ListBillsResponse {
		p = proto.Clone(p).(*billingv1.ListBillsResponse)
		p.NextPageToken = ""
		for _, bl := range p.GetBills() {
			for _, it := range bl.GetItems() {
				it.Freshness, it.AsOfTime, it.UpdateTime = 0, nil, nil
			}
		}
		return p
	}
	return proto.Equal(strip(a), strip(b))
}
