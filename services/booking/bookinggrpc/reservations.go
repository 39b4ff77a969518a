package bookinggrpc

import (
	"context"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/services/booking/booking"
)

// reservationServer implements ReservationService.
type reservationServer struct {
	bookingv1.UnimplementedReservationServiceServer
	svc *booking.Service
}

// mutationView is the view mutations answer with: everything but the history.
const mutationView = typev1.View_VIEW_STANDARD

// CreateReservation holds seats or rooms at the price fare quotes now.
func (s *reservationServer) CreateReservation(ctx context.Context, req *bookingv1.CreateReservationRequest) (*bookingv1.CreateReservationResponse, error) {
	h, err := holdIn(req)
	if err != nil {
		return nil, err
	}
	r, err := s.svc.CreateReservation(ctx, callerOf(ctx), h)
	if err != nil {
		return nil, err
	}
	return &bookingv1.CreateReservationResponse{Reservation: reservationOut(r, mutationView)}, nil
}

// GetReservation returns one reservation the caller may see, in the requested view.
func (s *reservationServer) GetReservation(ctx context.Context, req *bookingv1.GetReservationRequest) (*bookingv1.GetReservationResponse, error) {
	r, err := s.svc.GetReservation(ctx, callerOf(ctx), req.GetReservationId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.GetReservationResponse{Reservation: reservationOut(r, req.GetView())}, nil
}

// ListReservations lists reservations newest first; customers see only their own.
func (s *reservationServer) ListReservations(ctx context.Context, req *bookingv1.ListReservationsRequest) (*bookingv1.ListReservationsResponse, error) {
	f := booking.ReservationFilter{
		CustomerID: req.GetCustomerId(), Kind: booking.Kind(req.GetKind()),
		DepartureID: req.GetDepartureId(), PropertyID: req.GetPropertyId(),
	}
	for _, st := range req.GetStatuses() {
		f.Statuses = append(f.Statuses, booking.Status(st))
	}
	page, err := s.svc.ListReservations(ctx, callerOf(ctx), f, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &bookingv1.ListReservationsResponse{NextPageToken: page.NextToken}
	for _, r := range page.Items {
		resp.Reservations = append(resp.Reservations, reservationOut(r, req.GetView()))
	}
	return resp, nil
}

// UpdateReservation replaces a reservation's travellers.
func (s *reservationServer) UpdateReservation(ctx context.Context, req *bookingv1.UpdateReservationRequest) (*bookingv1.UpdateReservationResponse, error) {
	in := req.GetReservation()
	r, err := s.svc.UpdateReservation(ctx, callerOf(ctx), in.GetId(), in.GetVersion(), travelerNames(in.GetTravelers()),
		req.GetUpdateMask().GetPaths(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.UpdateReservationResponse{Reservation: reservationOut(r, mutationView)}, nil
}

// ConfirmReservation turns a HELD reservation into a CONFIRMED one before its hold expires.
func (s *reservationServer) ConfirmReservation(ctx context.Context, req *bookingv1.ConfirmReservationRequest) (*bookingv1.ConfirmReservationResponse, error) {
	r, err := s.svc.ConfirmReservation(ctx, callerOf(ctx), req.GetReservationId(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.ConfirmReservationResponse{Reservation: reservationOut(r, mutationView)}, nil
}

// CancelReservation cancels a reservation and returns the refundable amount under its policy.
func (s *reservationServer) CancelReservation(ctx context.Context, req *bookingv1.CancelReservationRequest) (*bookingv1.CancelReservationResponse, error) {
	r, err := s.svc.CancelReservation(ctx, callerOf(ctx), req.GetReservationId(), req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	out := reservationOut(r, mutationView)
	return &bookingv1.CancelReservationResponse{Reservation: out, RefundableAmount: out.GetCancellation().GetRefundableAmount()}, nil
}

// GetCancellationQuote tells what a cancellation now would refund, changing nothing.
func (s *reservationServer) GetCancellationQuote(ctx context.Context, req *bookingv1.GetCancellationQuoteRequest) (*bookingv1.GetCancellationQuoteResponse, error) {
	q, err := s.svc.CancellationQuote(ctx, callerOf(ctx), req.GetReservationId())
	if err != nil {
		return nil, err
	}
	resp := &bookingv1.GetCancellationQuoteResponse{
		RefundableAmount: moneyOut(q.Refundable), CancellationFee: moneyOut(q.Fee), ValidUntil: timeOut(q.ValidUntil),
	}
	if q.Rule != nil {
		resp.AppliedRule = ruleOut(*q.Rule)
	}
	return resp, nil
}

// CheckInReservation checks a CONFIRMED reservation in within its window.
func (s *reservationServer) CheckInReservation(ctx context.Context, req *bookingv1.CheckInReservationRequest) (*bookingv1.CheckInReservationResponse, error) {
	r, err := s.svc.CheckInReservation(ctx, callerOf(ctx), req.GetReservationId(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.CheckInReservationResponse{Reservation: reservationOut(r, mutationView)}, nil
}

// CheckOutReservation completes a CHECKED_IN stay.
func (s *reservationServer) CheckOutReservation(ctx context.Context, req *bookingv1.CheckOutReservationRequest) (*bookingv1.CheckOutReservationResponse, error) {
	r, err := s.svc.CheckOutReservation(ctx, callerOf(ctx), req.GetReservationId(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.CheckOutReservationResponse{Reservation: reservationOut(r, mutationView)}, nil
}

// SetReservationSubStatus sets the free-form sub-status without changing the main status.
func (s *reservationServer) SetReservationSubStatus(ctx context.Context, req *bookingv1.SetReservationSubStatusRequest) (*bookingv1.SetReservationSubStatusResponse, error) {
	r, err := s.svc.SetSubStatus(ctx, callerOf(ctx), req.GetReservationId(), req.GetSubStatus(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.SetReservationSubStatusResponse{Reservation: reservationOut(r, mutationView)}, nil
}
