// Package grpctest is the one harness for Waybill's transport tests: it starts a service
// on a real loopback gRPC server with a fresh database, through the same serve.Deps a
// real process gets, dials it with a caller's token, asserts the code, ErrorInfo reason
// and BadRequest field of a status, counts calls per method and waits for conditions.
//
// A service's tests keep only what is specific to the service (its spec, its fixtures);
// everything else is here:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestGetRateCard(t *testing.T) {
//		s := grpctest.Start(t, serve.Spec{Name: "fare", Migrations: farepg.Migrations,
//			EventTypes: faregrpc.EventTypes, Register: faregrpc.Register})
//		fares := farev1.NewFareServiceClient(s.Conn(auth.Identity{Subject: "ops", Role: auth.RoleOperator}))
//		_, err := fares.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{})
//		grpctest.WantField(t, err, "rate_card_id")
//	}
//
// Every server the harness starts trusts tokens signed with Secret, so servers of one
// test call each other as they do in a deployment.
package grpctest
