package paymentgrpc

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/payment/payment"
)

// This file is the only place generated types meet domain types.

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func moneyToProto(amount int64, currency string) *typev1.Money {
	return &typev1.Money{AmountMinor: amount, CurrencyCode: currency}
}

// moneyIn converts an optional request amount; nil stays nil.
func moneyIn(m *typev1.Money) *money.Money {
	if m == nil {
		return nil
	}
	v := money.New(m.GetAmountMinor(), m.GetCurrencyCode())
	return &v
}

var methodStatuses = map[payment.MethodStatus]paymentv1.PaymentMethodStatus{
	payment.MethodActive:   paymentv1.PaymentMethodStatus_PAYMENT_METHOD_STATUS_ACTIVE,
	payment.MethodDisabled: paymentv1.PaymentMethodStatus_PAYMENT_METHOD_STATUS_DISABLED,
}

var brands = map[payment.Brand]paymentv1.CardBrand{
	payment.BrandVisa:       paymentv1.CardBrand_CARD_BRAND_VISA,
	payment.BrandMastercard: paymentv1.CardBrand_CARD_BRAND_MASTERCARD,
	payment.BrandAmex:       paymentv1.CardBrand_CARD_BRAND_AMEX,
	payment.BrandDiscover:   paymentv1.CardBrand_CARD_BRAND_DISCOVER,
	payment.BrandJCB:        paymentv1.CardBrand_CARD_BRAND_JCB,
	payment.BrandUnionPay:   paymentv1.CardBrand_CARD_BRAND_UNIONPAY,
	payment.BrandDiners:     paymentv1.CardBrand_CARD_BRAND_DINERS,
	payment.BrandOther:      paymentv1.CardBrand_CARD_BRAND_OTHER,
}

var paymentStatuses = map[payment.Status]paymentv1.PaymentStatus{
	payment.StatusAuthorized:            paymentv1.PaymentStatus_PAYMENT_STATUS_AUTHORIZED,
	payment.StatusPartiallyCaptured:     paymentv1.PaymentStatus_PAYMENT_STATUS_PARTIALLY_CAPTURED,
	payment.StatusCaptured:              paymentv1.PaymentStatus_PAYMENT_STATUS_CAPTURED,
	payment.StatusPartiallyRefunded:     paymentv1.PaymentStatus_PAYMENT_STATUS_PARTIALLY_REFUNDED,
	payment.StatusRefunded:              paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED,
	payment.StatusVoided:                paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED,
	payment.StatusFailed:                paymentv1.PaymentStatus_PAYMENT_STATUS_FAILED,
	payment.StatusPendingReconciliation: paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING_RECONCILIATION,
}

var opTypes = map[payment.OperationType]paymentv1.OperationType{
	payment.OpAuthorize: paymentv1.OperationType_OPERATION_TYPE_AUTHORIZE,
	payment.OpCapture:   paymentv1.OperationType_OPERATION_TYPE_CAPTURE,
	payment.OpVoid:      paymentv1.OperationType_OPERATION_TYPE_VOID,
	payment.OpRefund:    paymentv1.OperationType_OPERATION_TYPE_REFUND,
}

var opStatuses = map[payment.OperationStatus]paymentv1.OperationStatus{
	payment.OpInProgress: paymentv1.OperationStatus_OPERATION_STATUS_PENDING,
	payment.OpPending:    paymentv1.OperationStatus_OPERATION_STATUS_PENDING,
	payment.OpSucceeded:  paymentv1.OperationStatus_OPERATION_STATUS_SUCCEEDED,
	payment.OpFailed:     paymentv1.OperationStatus_OPERATION_STATUS_FAILED,
}

var settlementStatuses = map[payment.SettlementStatus]paymentv1.SettlementStatus{
	payment.SettlementRunning:   paymentv1.SettlementStatus_SETTLEMENT_STATUS_RUNNING,
	payment.SettlementCompleted: paymentv1.SettlementStatus_SETTLEMENT_STATUS_COMPLETED,
	payment.SettlementFailed:    paymentv1.SettlementStatus_SETTLEMENT_STATUS_FAILED,
}

// inverse looks up the domain value of a proto enum value; ok is false for values the map
// does not hold (UNSPECIFIED and unknown numbers).
func inverse[D comparable, P comparable](m map[D]P, v P) (D, bool) {
	for d, p := range m {
		if p == v {
			return d, true
		}
	}
	var zero D
	return zero, false
}

// methodToProto converts a payment method as the domain let the caller see it (the token
// only for services and operators).
func methodToProto(m payment.PaymentMethod) *paymentv1.PaymentMethod {
	return &paymentv1.PaymentMethod{
		Id: m.ID, CustomerId: m.CustomerID, Processor: m.Processor, ProcessorToken: m.Token, Brand: brands[m.Brand],
		Last4: m.Last4, ExpiryMonth: int32(m.ExpiryMonth), ExpiryYear: int32(m.ExpiryYear), Status: methodStatuses[m.Status],
		CreateTime: ts(m.CreateTime), UpdateTime: ts(m.UpdateTime), DisableTime: ts(m.DisableTime), Version: m.Version,
	}
}

// paymentToProto converts a payment; the timeline only when asked for.
func paymentToProto(p payment.Payment, timeline bool) *paymentv1.Payment {
	out := &paymentv1.Payment{
		Id: p.ID, CustomerId: p.CustomerID, PaymentMethodId: p.MethodID, Reference: p.Reference,
		AuthorizedAmount: moneyToProto(p.Authorized, p.Currency), CapturedAmount: moneyToProto(p.Captured, p.Currency),
		RefundedAmount: moneyToProto(p.Refunded, p.Currency), Status: paymentStatuses[p.Status], SubStatus: p.SubStatus,
		DeclineCode: p.DeclineCode, FailureMessage: p.FailureMessage, Processor: p.Processor,
		ProcessorReference: p.ProcessorReference, CreateTime: ts(p.CreateTime), UpdateTime: ts(p.UpdateTime),
		SettleTime: ts(p.SettleTime), Version: p.Version,
	}
	if p.Status == payment.StatusAuthorized || p.Status == payment.StatusPartiallyCaptured {
		out.AuthorizationExpireTime = ts(p.AuthorizationExpireTime)
	}
	if timeline {
		out.Timeline = make([]*paymentv1.PaymentOperation, len(p.Timeline))
		for i, op := range p.Timeline {
			out.Timeline[i] = operationToProto(op)
		}
	}
	return out
}

func operationToProto(op payment.Operation) *paymentv1.PaymentOperation {
	return &paymentv1.PaymentOperation{
		Id: op.ID, Type: opTypes[op.Type], Status: opStatuses[op.Status],
		Amount: moneyToProto(op.Amount.Amount, op.Amount.Currency), RequestId: op.RequestID,
		ProcessorReference: op.ProcessorReference, DeclineCode: op.DeclineCode, FailureMessage: op.FailureMessage,
		Reason: op.Reason, CreateTime: ts(op.CreateTime), CompleteTime: ts(op.CompleteTime), SettlementId: op.SettlementID,
	}
}

func dateToProto(d payment.Date) *typev1.Date {
	return &typev1.Date{Year: int32(d.Year), Month: int32(d.Month), Day: int32(d.Day)}
}

// dateIn converts a request date; nil stays nil. Out-of-range values become an invalid Date
// the domain rejects.
func dateIn(d *typev1.Date) *payment.Date {
	if d == nil {
		return nil
	}
	return &payment.Date{Year: int(d.GetYear()), Month: time.Month(d.GetMonth()), Day: int(d.GetDay())}
}

func settlementToProto(st payment.Settlement) *paymentv1.Settlement {
	out := &paymentv1.Settlement{
		Id: st.ID, SettlementDate: dateToProto(st.Date), Status: settlementStatuses[st.Status],
		PaymentCount: int32(st.PaymentCount), ProcessorReference: st.ProcessorReference,
		FailureMessage: st.FailureMessage, RequestId: st.RequestID, CreateTime: ts(st.CreateTime),
		UpdateTime: ts(st.UpdateTime), CompleteTime: ts(st.CompleteTime), Version: st.Version,
	}
	for _, t := range st.Totals {
		out.Totals = append(out.Totals, &paymentv1.SettlementTotal{
			CurrencyCode: t.Currency, Captured: moneyToProto(t.Captured, t.Currency), Refunded: moneyToProto(t.Refunded, t.Currency),
			Net: moneyToProto(t.Net(), t.Currency), CaptureCount: int32(t.CaptureCount), RefundCount: int32(t.RefundCount),
		})
	}
	return out
}

func cardIn(c *paymentv1.CardInput) *payment.Card {
	if c == nil {
		return nil
	}
	return &payment.Card{Number: c.GetNumber(), ExpiryMonth: int(c.GetExpiryMonth()), ExpiryYear: int(c.GetExpiryYear()),
		CVC: c.GetCvc(), HolderName: c.GetCardholderName()}
}

// EventPayload builds the events.proto payload of a domain event; it is the
// paymentpg.Options.EventPayload of the service.
func EventPayload(ev payment.Event) (proto.Message, error) {
	switch {
	case ev.Settlement != nil:
		return &paymentv1.SettlementEvent{Settlement: settlementToProto(*ev.Settlement)}, nil
	case ev.Payment != nil:
		out := &paymentv1.PaymentEvent{Payment: paymentToProto(*ev.Payment, false), SettlementId: ev.SettlementID}
		if ev.Operation != nil {
			out.Operation = operationToProto(*ev.Operation)
		}
		return out, nil
	}
	return nil, fmt.Errorf("event %s has neither payment nor settlement", ev.Type)
}
