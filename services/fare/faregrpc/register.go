// Package faregrpc is the fare service's gRPC transport: handlers that validate,
// convert, call the domain and convert back. The fare service owns rate cards, dynamic
// pricing, quotes and ride fares.
package faregrpc

import (
	"context"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/fare/fare"
	"github.com/waybill/waybill/services/fare/farepg"
)

// Schema is the fare service's database schema (its Deps.Pool's search_path).
const Schema = "fare"

// EventTypes are the event types the fare service's log holds (see events.proto), for
// serve.Spec.EventTypes. fare.fare.calculated arrives with ride fares.
var EventTypes = []string{farepg.EventTypeRateCardUpdated, "fare.fare.calculated"}

// Register registers the fare service's gRPC services on the server. d.Pool's
// search_path must be the fare schema, migrated with farepg.Migrations (serve does
// both; tests use pgtest.NewDB(t, "fare", farepg.Migrations)).
//
// Events go to the service's event log (serve.Deps.EventLog: the runner's, or one made
// here when Register runs without the runner, as in tests). Ride fares
// (CalculateRideFare, GetFare, ListFares) and ConsumerAdminService answer UNIMPLEMENTED.
func Register(ctx context.Context, d serve.Deps) error {
	s := d.Server.GRPC
	log, _ := d.EventLog(ctx, Schema, EventTypes)
	store := farepg.New(d.Pool, farepg.Options{
		RateCardEvent: func(c fare.RateCard) proto.Message { return rateCardEvent(c) },
		Notify:        log.Notify,
	})
	farev1.RegisterFareServiceServer(s, New(fare.New(store, nil)))
	eventsv1.RegisterConsumerAdminServiceServer(s, eventsv1.UnimplementedConsumerAdminServiceServer{})
	return nil
}
