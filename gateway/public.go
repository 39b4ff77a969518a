package gateway

// publicRoutes are the only routes the gateway serves without a bearer token, as their
// patterns are registered on the root mux in New. This is the one list: every other
// route, every API route under /v1/ among them, needs a valid token and is refused with
// 401 before anything else happens (see edge). A route added here is open to anyone on
// the network, so it must show nothing about customers.
var publicRoutes = map[string]bool{
	"GET /healthz":      true, // aggregate health, for load balancers and `waybill up`
	"GET /openapi.json": true, // the API's OpenAPI document
	"GET /docs":         true, // the API reference page rendered from it
	"GET /metrics":      true, // the gateway's Prometheus metrics
	"GET /app/":         true, // the pages (web/dist): static files; their API calls carry the token
	"GET /{$}":          true, // redirects to /app/
}
