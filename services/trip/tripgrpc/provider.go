package tripgrpc

import (
	"context"
	"fmt"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/services/trip/trip"
)

// ProviderServer implements waybill.reservation.v1.ReservationProviderService for
// billing: rides are items of kind KIND_RIDE.
type ProviderServer struct {
	reservationv1.UnimplementedReservationProviderServiceServer
	svc *trip.Service
}

// NewProvider returns the provider server on svc.
func NewProvider(svc *trip.Service) *ProviderServer { return &ProviderServer{svc: svc} }

var mainStatus = map[trip.Status]reservationv1.MainStatus{
	trip.StatusRequested:      reservationv1.MainStatus_MAIN_STATUS_PENDING,
	trip.StatusDriverAssigned: reservationv1.MainStatus_MAIN_STATUS_CONFIRMED,
	trip.StatusStarted:        reservationv1.MainStatus_MAIN_STATUS_IN_PROGRESS,
	trip.StatusEnded:          reservationv1.MainStatus_MAIN_STATUS_COMPLETED,
	trip.StatusCancelled:      reservationv1.MainStatus_MAIN_STATUS_CANCELLED,
}

// GetReservationDetails implements reservationv1.ReservationProviderServiceServer: one
// query per batch, results in request order.
func (s *ProviderServer) GetReservationDetails(ctx context.Context, req *reservationv1.GetReservationDetailsRequest) (*reservationv1.GetReservationDetailsResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	found, err := s.svc.Details(ctx, c, req.GetProvider(), req.GetIds())
	if err != nil {
		return nil, err
	}
	resp := &reservationv1.GetReservationDetailsResponse{Results: make([]*reservationv1.ReservationResult, len(found))}
	for i, t := range found {
		r := &reservationv1.ReservationResult{Id: req.GetIds()[i], Status: reservationv1.ReservationResult_STATUS_NOT_FOUND}
		if t != nil {
			r.Status, r.Details = reservationv1.ReservationResult_STATUS_FOUND, DetailsOf(*t, req.GetView())
		}
		resp.Results[i] = r
	}
	return resp, nil
}

// DetailsOf returns the reservation envelope of ride t in view: amount = the final fare
// once set, else the estimate.
func DetailsOf(t trip.Trip, view typev1.View) *reservationv1.ReservationDetails {
	amount := t.Estimate
	if t.FinalFare != nil {
		amount = *t.FinalFare
	}
	d := &reservationv1.ReservationDetails{
		Id: t.ID, Kind: reservationv1.Kind_KIND_RIDE, MainStatus: mainStatus[t.Status], SubStatus: t.SubStatus,
		CustomerId: t.CustomerID, Amount: moneyToProto(amount),
		Title:    fmt.Sprintf("Ride (%s), %s", t.Product, t.City),
		Subtitle: subtitle(t), UpdateTime: ts(t.UpdateTime), Version: t.Version,
	}
	if view == typev1.View_VIEW_STANDARD || view == typev1.View_VIEW_FULL {
		for _, e := range t.Timeline {
			d.Timeline = append(d.Timeline, &reservationv1.TimelineEntry{Time: ts(e.Time), Label: e.Label})
		}
		d.KindDetails = &reservationv1.ReservationDetails_Ride{Ride: &reservationv1.RideDetails{
			Pickup: pointToProto(t.Pickup), Dropoff: pointToProto(t.Dropoff), DriverId: t.DriverID,
			DistanceMeters: t.DistanceMeters, DurationSeconds: t.DurationSeconds, Product: t.Product,
		}}
	}
	return d
}

// subtitle is the second line of a ride: when it was requested, and how far it went.
func subtitle(t trip.Trip) string {
	s := t.CreateTime.Format("2 Jan 2006 15:04 UTC")
	if t.Status == trip.StatusEnded {
		s += fmt.Sprintf(", %.1f km, %d min", float64(t.DistanceMeters)/1000, (t.DurationSeconds+59)/60)
	}
	return s
}

// ConfirmReservations implements reservationv1.ReservationProviderServiceServer.
func (s *ProviderServer) ConfirmReservations(ctx context.Context, req *reservationv1.ConfirmReservationsRequest) (*reservationv1.ConfirmReservationsResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	results, err := s.svc.ConfirmRides(ctx, c, req.GetProvider(), req.GetIds(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &reservationv1.ConfirmReservationsResponse{Results: actionResults(results)}, nil
}

// CancelReservations implements reservationv1.ReservationProviderServiceServer.
func (s *ProviderServer) CancelReservations(ctx context.Context, req *reservationv1.CancelReservationsRequest) (*reservationv1.CancelReservationsResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	results, err := s.svc.CancelRides(ctx, c, req.GetProvider(), req.GetIds(), req.GetRequestId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	return &reservationv1.CancelReservationsResponse{Results: actionResults(results)}, nil
}

func actionResults(rs []trip.ActionResult) []*reservationv1.ReservationActionResult {
	out := make([]*reservationv1.ReservationActionResult, len(rs))
	for i, r := range rs {
		a := &reservationv1.ReservationActionResult{Id: r.ID, Reason: r.Reason}
		switch r.Outcome {
		case trip.OutcomeOK:
			a.Outcome = reservationv1.ReservationActionResult_OUTCOME_OK
		case trip.OutcomeFailedPrecondition:
			a.Outcome = reservationv1.ReservationActionResult_OUTCOME_FAILED_PRECONDITION
		default:
			a.Outcome = reservationv1.ReservationActionResult_OUTCOME_NOT_FOUND
		}
		if r.Outcome != trip.OutcomeNotFound {
			a.MainStatus, a.Version = mainStatus[r.Trip.Status], r.Trip.Version
		}
		out[i] = a
	}
	return out
}
