// Package fareclient is trip's adapter to the fare service: the ride estimate
// (QuoteRide), with fare's errors re-kinded to what they mean to trip.
package fareclient

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/trip/trip"
)

// Client calls the fare service; it implements trip.Fare.
type Client struct {
	conn *grpc.ClientConn
	api  farev1.FareServiceClient
}

var _ trip.Fare = (*Client)(nil)

// Dial connects (lazily) to fare at addr; extra carries trip's credentials. QuoteRide
// stores a quote but is safe to retry: an unused quote is harmless.
func Dial(addr string, extra ...grpc.DialOption) (*Client, error) {
	conn, err := grpcclient.Dial(addr, grpcclient.Options{Timeout: 3 * time.Second,
		Idempotent: []string{"/waybill.fare.v1.FareService/QuoteRide"}}, extra...)
	if err != nil {
		return nil, fmt.Errorf("fare service %s: %w", addr, err)
	}
	return &Client{conn: conn, api: farev1.NewFareServiceClient(conn)}, nil
}

// Conn returns the connection, for fare's event stream.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// callerFields are the fields of QuoteRide that carry trip's caller's input under the
// same names: fare's complaint about them is the caller's mistake.
var callerFields = map[string]bool{"city": true, "product": true, "pickup": true, "dropoff": true,
	"pickup.latitude": true, "pickup.longitude": true, "dropoff.latitude": true, "dropoff.longitude": true}

// QuoteRide implements trip.Fare.
func (c *Client) QuoteRide(ctx context.Context, in trip.QuoteInput) (trip.Quote, error) {
	resp, err := c.api.QuoteRide(ctx, &farev1.QuoteRideRequest{
		City: in.City, Product: in.Product,
		Pickup:                  &typev1.GeoPoint{Latitude: in.Pickup.Lat, Longitude: in.Pickup.Lng},
		Dropoff:                 &typev1.GeoPoint{Latitude: in.Dropoff.Lat, Longitude: in.Dropoff.Lng},
		EstimatedDistanceMeters: in.DistanceMeters, EstimatedDurationSeconds: in.DurationSeconds,
	})
	if err != nil {
		e := grpcerr.FromStatus(err)
		fe, _ := errs.As(e)
		switch errs.KindOf(e) {
		case errs.NotFound:
			return trip.Quote{}, errs.Precondition(trip.ReasonProductNotOffered, "fare has no rate card for product %q in %s", in.Product, in.City).WithCause(err)
		case errs.InvalidArgument:
			var mine []errs.FieldViolation
			for _, f := range fe.Fields {
				if callerFields[f.Field] {
					mine = append(mine, f)
				}
			}
			if len(mine) > 0 {
				return trip.Quote{}, errs.InvalidFields(mine...)
			}
		case errs.Unavailable, errs.Aborted, errs.ResourceExhausted, errs.Unknown:
			return trip.Quote{}, errs.Unreachable(trip.ReasonFareUnavailable, "fare: quote ride: %v", e).WithCause(err)
		}
		return trip.Quote{}, &errs.Error{Kind: errs.Unknown, Message: fmt.Sprintf("fare refused QuoteRide: %v", e), Err: err}
	}
	q := resp.GetQuote()
	out := trip.Quote{ID: q.GetId(), MultiplierBps: q.GetMultiplierBps(), SurgeZone: q.GetSurgeZone(),
		Price: money.New(q.GetPrice().GetAmountMinor(), q.GetPrice().GetCurrencyCode())}
	if q.GetValidUntil() != nil {
		out.ValidUntil = q.GetValidUntil().AsTime()
	}
	return out, nil
}
