package bookinggrpc

import (
	"context"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/services/booking/booking"
)

// providerServer implements the shared ReservationProviderService for billing.
type providerServer struct {
	reservationv1.UnimplementedReservationProviderServiceServer
	svc *booking.Service
}

// GetReservationDetails answers up to 500 ids with one database query, in request order.
func (s *providerServer) GetReservationDetails(ctx context.Context, req *reservationv1.GetReservationDetailsRequest) (*reservationv1.GetReservationDetailsResponse, error) {
	results, err := s.svc.Details(ctx, callerOf(ctx), req.GetProvider(), req.GetIds())
	if err != nil {
		return nil, err
	}
	resp := &reservationv1.GetReservationDetailsResponse{Results: make([]*reservationv1.ReservationResult, len(results))}
	for i, r := range results {
		out := &reservationv1.ReservationResult{Id: r.ID}
		switch r.Status {
		case booking.DetailFound:
			out.Status = reservationv1.ReservationResult_STATUS_FOUND
			out.Details = detailsOut(r.Reservation, req.GetView())
		default:
			out.Status = reservationv1.ReservationResult_STATUS_NOT_FOUND
		}
		resp.Results[i] = out
	}
	return resp, nil
}

// ConfirmReservations confirms up to 500 reservations in one transaction for services
// and operators, idempotent by request_id, with one outcome per id.
func (s *providerServer) ConfirmReservations(ctx context.Context, req *reservationv1.ConfirmReservationsRequest) (*reservationv1.ConfirmReservationsResponse, error) {
	results, err := s.svc.ConfirmReservations(ctx, callerOf(ctx), req.GetProvider(), req.GetIds(), req.GetRequestId(), req.GetReference())
	if err != nil {
		return nil, err
	}
	return &reservationv1.ConfirmReservationsResponse{Results: actionResultsOut(results)}, nil
}

// CancelReservations cancels up to 500 reservations in one transaction for services and
// operators, idempotent by request_id, with one outcome per id; waive_fees refunds in full.
func (s *providerServer) CancelReservations(ctx context.Context, req *reservationv1.CancelReservationsRequest) (*reservationv1.CancelReservationsResponse, error) {
	results, err := s.svc.CancelReservations(ctx, callerOf(ctx), req.GetProvider(), req.GetIds(), req.GetRequestId(), req.GetReason(), req.GetWaiveFees())
	if err != nil {
		return nil, err
	}
	return &reservationv1.CancelReservationsResponse{Results: actionResultsOut(results)}, nil
}
