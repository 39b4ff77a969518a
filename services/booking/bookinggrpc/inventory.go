package bookinggrpc

import (
	"context"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/booking/booking"
)

// inventoryServer implements InventoryService.
type inventoryServer struct {
	bookingv1.UnimplementedInventoryServiceServer
	svc *booking.Service
}

// CreateDeparture adds a SCHEDULED departure; operators only, idempotent by request_id.
func (s *inventoryServer) CreateDeparture(ctx context.Context, req *bookingv1.CreateDepartureRequest) (*bookingv1.CreateDepartureResponse, error) {
	d, err := departureIn(req.GetDeparture(), "departure")
	if err != nil {
		return nil, err
	}
	out, err := s.svc.CreateDeparture(ctx, callerOf(ctx), d, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.CreateDepartureResponse{Departure: departureOut(out)}, nil
}

// GetDeparture returns one departure with its current seat counts.
func (s *inventoryServer) GetDeparture(ctx context.Context, req *bookingv1.GetDepartureRequest) (*bookingv1.GetDepartureResponse, error) {
	d, err := s.svc.GetDeparture(ctx, callerOf(ctx), req.GetDepartureId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.GetDepartureResponse{Departure: departureOut(d)}, nil
}

// ListDepartures lists departures for operators by departure time, one page at a time.
func (s *inventoryServer) ListDepartures(ctx context.Context, req *bookingv1.ListDeparturesRequest) (*bookingv1.ListDeparturesResponse, error) {
	from, err := timeIn(req.GetDepartureTimeRange().GetStartTime(), "departure_time_range.start_time")
	if err != nil {
		return nil, err
	}
	to, err := timeIn(req.GetDepartureTimeRange().GetEndTime(), "departure_time_range.end_time")
	if err != nil {
		return nil, err
	}
	f := booking.DepartureFilter{
		Mode: booking.Mode(req.GetMode()), Carrier: req.GetCarrier(), Origin: req.GetOrigin(),
		Destination: req.GetDestination(), Status: booking.DepartureStatus(req.GetStatus()), From: from, To: to,
	}
	page, err := s.svc.ListDepartures(ctx, callerOf(ctx), f, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &bookingv1.ListDeparturesResponse{NextPageToken: page.NextToken}
	for _, d := range page.Items {
		resp.Departures = append(resp.Departures, departureOut(d))
	}
	return resp, nil
}

// UpdateDeparture changes the fields the update mask names; operators only.
func (s *inventoryServer) UpdateDeparture(ctx context.Context, req *bookingv1.UpdateDepartureRequest) (*bookingv1.UpdateDepartureResponse, error) {
	d, err := departureIn(req.GetDeparture(), "departure")
	if err != nil {
		return nil, err
	}
	out, err := s.svc.UpdateDeparture(ctx, callerOf(ctx), d, req.GetUpdateMask().GetPaths(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.UpdateDepartureResponse{Departure: departureOut(out)}, nil
}

// CancelDeparture cancels a departure and, in the same transaction, its live reservations.
func (s *inventoryServer) CancelDeparture(ctx context.Context, req *bookingv1.CancelDepartureRequest) (*bookingv1.CancelDepartureResponse, error) {
	d, n, err := s.svc.CancelDeparture(ctx, callerOf(ctx), req.GetDepartureId(), req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.CancelDepartureResponse{Departure: departureOut(d), CancelledReservationCount: int32(n)}, nil
}

// SearchDepartures finds departures on a route and date with availability and quotes.
func (s *inventoryServer) SearchDepartures(ctx context.Context, req *bookingv1.SearchDeparturesRequest) (*bookingv1.SearchDeparturesResponse, error) {
	q := booking.DepartureSearch{
		Origin: req.GetOrigin(), Destination: req.GetDestination(), Date: dateIn(req.GetDate()),
		Mode: booking.Mode(req.GetMode()),
	}
	page, err := s.svc.SearchDepartures(ctx, callerOf(ctx), q, int(req.GetPassengers()), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &bookingv1.SearchDeparturesResponse{NextPageToken: page.NextToken}
	for _, o := range page.Items {
		offer := &bookingv1.DepartureOffer{Departure: departureOut(o.Departure)}
		for _, opt := range o.Options {
			offer.Options = append(offer.Options, &bookingv1.FareClassOption{
				FareClass: opt.Name, SeatsAvailable: int32(opt.Available), Available: opt.Fits, Quote: quoteOut(opt.Quote),
			})
		}
		resp.Departures = append(resp.Departures, offer)
	}
	return resp, nil
}

// CreateProperty adds an ACTIVE property; operators only, idempotent by request_id.
func (s *inventoryServer) CreateProperty(ctx context.Context, req *bookingv1.CreatePropertyRequest) (*bookingv1.CreatePropertyResponse, error) {
	p, err := propertyIn(req.GetProperty(), "property")
	if err != nil {
		return nil, err
	}
	if req.GetProperty().GetLocation() == nil {
		return nil, errs.Invalid("property.location", "is required")
	}
	out, err := s.svc.CreateProperty(ctx, callerOf(ctx), p, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.CreatePropertyResponse{Property: propertyOut(out)}, nil
}

// GetProperty returns one property.
func (s *inventoryServer) GetProperty(ctx context.Context, req *bookingv1.GetPropertyRequest) (*bookingv1.GetPropertyResponse, error) {
	p, err := s.svc.GetProperty(ctx, callerOf(ctx), req.GetPropertyId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.GetPropertyResponse{Property: propertyOut(p)}, nil
}

// ListProperties lists properties for operators by city and name, one page at a time.
func (s *inventoryServer) ListProperties(ctx context.Context, req *bookingv1.ListPropertiesRequest) (*bookingv1.ListPropertiesResponse, error) {
	f := booking.PropertyFilter{City: req.GetCity(), Status: booking.PropertyStatus(req.GetStatus())}
	page, err := s.svc.ListProperties(ctx, callerOf(ctx), f, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &bookingv1.ListPropertiesResponse{NextPageToken: page.NextToken}
	for _, p := range page.Items {
		resp.Properties = append(resp.Properties, propertyOut(p))
	}
	return resp, nil
}

// UpdateProperty changes the fields the update mask names; operators only.
func (s *inventoryServer) UpdateProperty(ctx context.Context, req *bookingv1.UpdatePropertyRequest) (*bookingv1.UpdatePropertyResponse, error) {
	p, err := propertyIn(req.GetProperty(), "property")
	if err != nil {
		return nil, err
	}
	out, err := s.svc.UpdateProperty(ctx, callerOf(ctx), p, req.GetUpdateMask().GetPaths(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.UpdatePropertyResponse{Property: propertyOut(out)}, nil
}

// CloseProperty closes a property and, in the same transaction, cancels its live reservations.
func (s *inventoryServer) CloseProperty(ctx context.Context, req *bookingv1.ClosePropertyRequest) (*bookingv1.ClosePropertyResponse, error) {
	p, n, err := s.svc.CloseProperty(ctx, callerOf(ctx), req.GetPropertyId(), req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &bookingv1.ClosePropertyResponse{Property: propertyOut(p), CancelledReservationCount: int32(n)}, nil
}

// SearchStays finds properties in a city with per-room-type availability and quotes.
func (s *inventoryServer) SearchStays(ctx context.Context, req *bookingv1.SearchStaysRequest) (*bookingv1.SearchStaysResponse, error) {
	q := booking.StaySearch{City: req.GetCity(), CheckIn: dateIn(req.GetCheckInDate()), CheckOut: dateIn(req.GetCheckOutDate())}
	page, err := s.svc.SearchStays(ctx, callerOf(ctx), q, int(req.GetGuests()), int(req.GetRooms()), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &bookingv1.SearchStaysResponse{NextPageToken: page.NextToken}
	for _, o := range page.Items {
		offer := &bookingv1.StayOffer{Property: propertyOut(o.Property)}
		for _, opt := range o.Options {
			offer.Options = append(offer.Options, &bookingv1.RoomTypeOption{
				RoomType: opt.Name, RoomsAvailable: int32(opt.Available), Available: opt.Fits, Quote: quoteOut(opt.Quote),
			})
		}
		resp.Stays = append(resp.Stays, offer)
	}
	return resp, nil
}
