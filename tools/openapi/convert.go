package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

// Names this generator gives to parts of the document; the checks and tests use them too.
const (
	// BearerScheme is the security scheme every operation needs unless it is public.
	BearerScheme = "bearerAuth"
	// StatusSchema is protoc-gen-openapiv2's name for google.rpc.Status, the body of
	// every error answer.
	StatusSchema = "rpc.Status"
	// StatusRef is the reference to StatusSchema.
	StatusRef = "#/components/schemas/" + StatusSchema
	// gatewayTag groups the gateway's own routes.
	gatewayTag = "Gateway"
)

// Config is what the generated document says about itself.
type Config struct {
	// Title and Version fill the document's info object.
	Title   string
	Version string
}

// Convert turns the merged Swagger 2.0 document that protoc-gen-openapiv2 writes into
// the OpenAPI 3.0 document the gateway serves. kin-openapi's openapi2conv does the
// translation; Convert then adds what the protos cannot say and the conversion cannot
// know: a real title and version, servers, the bearer security scheme, the gateway's
// public routes, one response per error status the gateway answers (all in the
// google.rpc.Status shape), one path per URL template, and summaries short enough to list.
func Convert(swagger []byte, c Config) (*openapi3.T, error) {
	var doc2 openapi2.T
	if err := json.Unmarshal(swagger, &doc2); err != nil {
		return nil, fmt.Errorf("read Swagger 2.0 document: %w", err)
	}
	if doc2.Swagger != "2.0" {
		return nil, fmt.Errorf("input is %q, want a Swagger 2.0 document", doc2.Swagger)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("convert to OpenAPI 3: %w", err)
	}
	if _, ok := doc.Components.Schemas[StatusSchema]; !ok {
		return nil, fmt.Errorf("no %s schema: run protoc-gen-openapiv2 with disable_default_errors=false and openapi_naming_strategy=simple", StatusSchema)
	}
	doc.Info = &openapi3.Info{Title: c.Title, Version: c.Version, Description: apiDescription}
	doc.Servers = openapi3.Servers{
		{URL: "/", Description: "The gateway that serves this document."},
		{URL: "http://127.0.0.1:8080", Description: "A local mesh started with `waybill up`."},
	}
	doc.Components.SecuritySchemes = openapi3.SecuritySchemes{
		BearerScheme: {Value: openapi3.NewJWTSecurityScheme().WithDescription(bearerDescription)},
	}
	doc.Security = openapi3.SecurityRequirements{{BearerScheme: []string{}}}
	doc.Components.Schemas[StatusSchema].Value.Description = statusDescription
	doc.Components.Responses = errorResponses()

	if err := mergePathTemplates(doc); err != nil {
		return nil, err
	}
	for _, path := range doc.Paths.Keys() {
		for _, op := range doc.Paths.Value(path).Operations() {
			summarize(op)
			describeErrors(path, op)
		}
	}
	addGatewayRoutes(doc)
	slices.SortFunc(doc.Tags, func(a, b *openapi3.Tag) int { return strings.Compare(a.Name, b.Name) })
	return doc, nil
}

const apiDescription = `Waybill's public API: bookings of seats and stays, rides, fares, bills, payments and
settlements, served as JSON over HTTP by the gateway in front of the gRPC services.

**Authentication.** Every route needs ` + "`Authorization: Bearer <token>`" + ` with a JWT
(locally, ` + "`waybill token`" + ` mints one), except the gateway's own public routes
(health, this document and its reference page). A missing or invalid token is answered
with 401 before anything else.

**Errors.** Every failed call answers a JSON ` + "`google.rpc.Status`" + `: the gRPC
` + "`code`" + `, a ` + "`message`" + ` for people, and ` + "`details`" + ` (a
` + "`google.rpc.ErrorInfo`" + ` whose ` + "`reason`" + ` is the machine-readable cause and,
for invalid requests, a ` + "`google.rpc.BadRequest`" + ` naming each field). The HTTP
status follows the gRPC code: INVALID_ARGUMENT, FAILED_PRECONDITION and OUT_OF_RANGE → 400,
UNAUTHENTICATED → 401, PERMISSION_DENIED → 403, NOT_FOUND → 404, ALREADY_EXISTS and
ABORTED → 409, RESOURCE_EXHAUSTED → 429, INTERNAL → 500, UNAVAILABLE → 503 (retry),
DEADLINE_EXCEEDED → 504.

**Conventions.** Custom methods are POSTs to ` + "`/v1/{resource}:{verb}`" + `. 64-bit
integers are JSON strings. Server streams (` + "`:watch`" + `, ` + "`:subscribe`" + `) answer
newline-delimited JSON, one ` + "`{\"result\": …}`" + ` object per message, or a last
` + "`{\"error\": …}`" + `.`

const bearerDescription = "A JWT in the `Authorization: Bearer <token>` header. Its role claim " +
	"(customer, driver, operator or service) decides what the caller may do."

const statusDescription = "The body of every error answer (`google.rpc.Status`): `code` is the " +
	"gRPC status code, `message` says what failed, and `details` holds a `google.rpc.ErrorInfo` " +
	"(`reason`, `domain`, `metadata`) and, for invalid requests, a `google.rpc.BadRequest` whose " +
	"`fieldViolations` name the fields."

// errorResponse is one HTTP error status the gateway answers, and when.
type errorResponse struct {
	status int
	name   string
	desc   string
}

// errorStatuses are the error answers an operation may document, in status order.
var errorStatuses = []errorResponse{
	{400, "BadRequest", "The request is invalid (INVALID_ARGUMENT, OUT_OF_RANGE) or the object is not in a state that allows it (FAILED_PRECONDITION); a `google.rpc.BadRequest` detail names the fields."},
	{401, "Unauthenticated", "No bearer token, or one that does not verify (UNAUTHENTICATED)."},
	{403, "PermissionDenied", "The caller's role or identity does not allow this call (PERMISSION_DENIED)."},
	{404, "NotFound", "No such object, or one the caller may not see (NOT_FOUND)."},
	{409, "Conflict", "The object already exists (ALREADY_EXISTS), or a concurrent change won (ABORTED: retry)."},
	{413, "PayloadTooLarge", "The request body is larger than the gateway accepts."},
	{429, "TooManyRequests", "The caller's request rate or stream limit is exceeded (RESOURCE_EXHAUSTED); `Retry-After` says when to retry."},
	{500, "Internal", "An unexpected failure (INTERNAL); the message carries an error id to quote."},
	{503, "Unavailable", "A service or its database is unavailable (UNAVAILABLE): retry with backoff."},
}

// errorResponses returns the shared response objects, one per error status, each a
// google.rpc.Status.
func errorResponses() openapi3.ResponseBodies {
	rs := openapi3.ResponseBodies{}
	for _, e := range errorStatuses {
		r := openapi3.NewResponse().WithDescription(e.desc).
			WithContent(openapi3.NewContentWithJSONSchemaRef(&openapi3.SchemaRef{Ref: StatusRef}))
		if e.status == 429 {
			r.Headers = openapi3.Headers{"Retry-After": {Value: &openapi3.Header{Parameter: openapi3.Parameter{
				Description: "Seconds to wait before retrying.",
				Schema:      openapi3.NewIntegerSchema().NewRef(),
			}}}}
		}
		rs[e.name] = &openapi3.ResponseRef{Value: r}
	}
	return rs
}

// describeErrors replaces the operation's catch-all error response with the error
// statuses it can answer: every secured call can be refused (400, 401, 403, 429) or fail
// (500, 503); 404 when its path names an object by id or its comment names NOT_FOUND;
// 409 when its comment names ALREADY_EXISTS or ABORTED; 413 when it takes a body. The
// default response stays for anything else, in the same shape.
func describeErrors(path string, op *openapi3.Operation) {
	text := op.Summary + "\n" + op.Description
	want := map[int]bool{400: true, 401: true, 403: true, 429: true, 500: true, 503: true}
	want[404] = idParam.MatchString(path) || strings.Contains(text, "NOT_FOUND")
	want[409] = strings.Contains(text, "ALREADY_EXISTS") || strings.Contains(text, "ABORTED")
	want[413] = op.RequestBody != nil
	for _, e := range errorStatuses {
		if want[e.status] {
			op.Responses.Set(fmt.Sprint(e.status), &openapi3.ResponseRef{Ref: "#/components/responses/" + e.name})
		}
	}
	op.Responses.Set("default", &openapi3.ResponseRef{Value: openapi3.NewResponse().
		WithDescription("Any other error, in the same shape.").
		WithContent(openapi3.NewContentWithJSONSchemaRef(&openapi3.SchemaRef{Ref: StatusRef}))})
	if ok := op.Responses.Value("200"); ok != nil && ok.Value != nil && ok.Value.Description != nil &&
		strings.HasSuffix(*ok.Value.Description, "(streaming responses)") {
		ok.Value.WithDescription("A stream of newline-delimited JSON objects: one `{\"result\": …}` per message, or a last `{\"error\": …}`.")
	}
}

// idParam matches a path parameter that names an object by its id.
var idParam = regexp.MustCompile(`\{[^}]*(Id|\.id)\}`)

// templateParam matches one path template expression, such as {departure.id}.
var templateParam = regexp.MustCompile(`\{[^}]*\}`)

// mergePathTemplates puts operations whose URL templates differ only in their parameter
// names under one path. protoc-gen-openapiv2 names a path parameter after the request
// field it fills, so Get and Update of one resource come out as
// /v1/departures/{departureId} and /v1/departures/{departure.id}: the same URLs, which
// OpenAPI forbids. The operations of the other templates move to the template whose
// parameter names have no dots (the first in order if none or several qualify), their path
// parameters renamed by position; each keeps its description and says which request
// field the parameter fills.
func mergePathTemplates(doc *openapi3.T) error {
	groups := map[string][]string{}
	for _, p := range doc.Paths.Keys() {
		shape := templateParam.ReplaceAllString(p, "{}")
		groups[shape] = append(groups[shape], p)
	}
	for _, shape := range slices.Sorted(maps.Keys(groups)) {
		paths := groups[shape]
		if len(paths) < 2 {
			continue
		}
		slices.Sort(paths)
		canon := paths[0]
		for _, p := range paths {
			if !strings.Contains(p, ".") || strings.Count(p, ".") < strings.Count(canon, ".") {
				canon = p
				break
			}
		}
		target := doc.Paths.Value(canon)
		names := templateParam.FindAllString(canon, -1)
		for _, p := range paths {
			if p == canon {
				continue
			}
			item := doc.Paths.Value(p)
			if len(item.Parameters) > 0 {
				return fmt.Errorf("path %s: path-level parameters are not supported", p)
			}
			rename := map[string]string{}
			for i, old := range templateParam.FindAllString(p, -1) {
				rename[strings.Trim(old, "{}")] = strings.Trim(names[i], "{}")
			}
			for method, op := range item.Operations() {
				if target.GetOperation(method) != nil {
					return fmt.Errorf("%s %s and %s %s are the same route", method, canon, method, p)
				}
				for i, ref := range op.Parameters {
					if ref.Value == nil || ref.Value.In != openapi3.ParameterInPath {
						continue
					}
					field := ref.Value.Name
					param := *ref.Value
					param.Name = rename[field]
					if param.Name != field {
						param.Description = strings.TrimSpace(param.Description + "\n\nFills the request's `" + field + "`.")
					}
					op.Parameters[i] = &openapi3.ParameterRef{Value: &param}
				}
				target.SetOperation(method, op)
			}
			doc.Paths.Delete(p)
		}
	}
	return nil
}

// summarize makes the RPC's name the operation's summary (the reference page lists
// operations by it, so it must be short) and the RPC's whole proto comment, which
// protoc-gen-openapiv2 splits between summary and description at its first blank line,
// the description, with its "Errors:" list as a paragraph of its own.
func summarize(op *openapi3.Operation) {
	text := strings.TrimSpace(op.Summary + "\n\n" + op.Description)
	_, name, ok := strings.Cut(op.OperationID, "_")
	if !ok {
		name = op.OperationID
	}
	op.Summary = name
	op.Description = strings.ReplaceAll(text, "\nErrors:", "\n\nErrors:")
}

// PublicRoutes are the gateway's routes that need no token. The gateway serves them
// itself (no gRPC method behind them), so they are described here.
var PublicRoutes = []string{"/healthz", "/openapi.json", "/docs"}

// addGatewayRoutes documents the gateway's own public routes.
func addGatewayRoutes(doc *openapi3.T) {
	doc.Tags = append(doc.Tags, &openapi3.Tag{Name: gatewayTag,
		Description: "The gateway's own routes: health, this document and its reference page. They need no token."})
	public := func(id, summary, desc string, responses ...openapi3.NewResponsesOption) *openapi3.PathItem {
		return &openapi3.PathItem{Get: &openapi3.Operation{
			Tags: []string{gatewayTag}, OperationID: id, Summary: summary, Description: desc,
			Security:  &openapi3.SecurityRequirements{},
			Responses: openapi3.NewResponses(responses...),
		}}
	}
	health := openapi3.NewObjectSchema().WithProperty("services",
		openapi3.NewObjectSchema().WithAdditionalProperties(
			openapi3.NewStringSchema().WithEnum("SERVING", "NOT_SERVING", "UNKNOWN", "SERVICE_UNKNOWN", "UNREACHABLE")))
	health.Properties["services"].Value.Description = "Each service's health status, by service name."
	healthBody := openapi3.NewContentWithJSONSchema(health)
	doc.Paths.Set(PublicRoutes[0], public("Gateway_Healthz", "Healthz",
		"Healthz reports whether every service is serving: it asks each service's gRPC health service, with a 2 second deadline.",
		openapi3.WithStatus(200, &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("Every service is SERVING.").WithContent(healthBody)}),
		openapi3.WithStatus(503, &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("At least one service is not SERVING.").WithContent(healthBody)})))
	doc.Paths.Set(PublicRoutes[1], public("Gateway_OpenAPI", "OpenAPI", "OpenAPI returns this document.",
		openapi3.WithStatus(200, &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("The OpenAPI 3 document, as JSON.").
			WithContent(openapi3.NewContentWithJSONSchema(openapi3.NewObjectSchema()))})))
	doc.Paths.Set(PublicRoutes[2], public("Gateway_Docs", "Docs",
		"Docs returns the API reference page rendered from this document: one self-contained HTML page (Redoc) that loads nothing from the network.",
		openapi3.WithStatus(200, &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("The HTML page.").
			WithContent(openapi3.Content{"text/html": openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())})})))
}
