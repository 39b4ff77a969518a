// Package matchinggrpc is the matching service's gRPC transport. The matching service owns
// drivers' availability and location, and finding a driver for a ride; it is a skeleton so
// far: every method answers UNIMPLEMENTED.
package matchinggrpc

import (
	"context"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	"github.com/waybill/waybill/kit/serve"
)

// Register registers the matching service's gRPC services on the server. Every method answers
// UNIMPLEMENTED (HTTP 501 through the gateway), as the repository's README.md says.
func Register(_ context.Context, d serve.Deps) error {
	s := d.Server.GRPC
	matchingv1.RegisterMatchingServiceServer(s, matchingv1.UnimplementedMatchingServiceServer{})
	eventsv1.RegisterEventStreamServiceServer(s, eventsv1.UnimplementedEventStreamServiceServer{})
	return nil
}
