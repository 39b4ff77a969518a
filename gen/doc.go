// Package gen is the root of Waybill's Go SDK: the code generated from proto/ by
// `make generate` (messages, gRPC clients and servers, grpc-gateway handlers) and the
// OpenAPI document. Import the per-service packages, for example
// github.com/waybill/waybill/gen/waybill/booking/v1.
package gen
