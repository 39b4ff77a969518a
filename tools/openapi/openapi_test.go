package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// committed is the document `make generate` wrote and the gateway serves.
const committed = "../../gen/openapi/waybill.openapi.json"

func loadCommitted(t *testing.T) *openapi3.T {
	t.Helper()
	data, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%v (run make generate)", err)
	}
	doc, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestCommittedDocument validates the served document with kin-openapi and the checks
// clients rely on: one path per URL, the bearer scheme on every operation but the
// gateway's public routes, google.rpc.Status for every error status.
func TestCommittedDocument(t *testing.T) {
	doc := loadCommitted(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("kin-openapi validation: %v", err)
	}
	if err := Check(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
	// The templates protoc-gen-openapiv2 names after request fields are merged into the
	// resource's own path, with their operations.
	for _, p := range doc.Paths.Keys() {
		if strings.Contains(p, ".") && !strings.HasSuffix(p, ".json") {
			t.Errorf("path %s names a request field", p)
		}
	}
	item := doc.Paths.Value("/v1/departures/{departureId}")
	if item == nil || item.Get == nil || item.Patch == nil {
		t.Fatalf("/v1/departures/{departureId} should hold GET and PATCH, got %+v", item)
	}
	if got := item.Patch.Parameters.GetByInAndName("path", "departureId"); got == nil {
		t.Errorf("PATCH /v1/departures/{departureId} has no departureId parameter: %v", item.Patch.Parameters)
	}
	// Every secured operation documents the statuses every call can get.
	for _, path := range doc.Paths.Keys() {
		for method, op := range doc.Paths.Value(path).Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				continue
			}
			for _, code := range []string{"400", "401", "403", "429", "500", "503"} {
				if op.Responses.Value(code) == nil {
					t.Errorf("%s %s documents no %s", method, path, code)
				}
			}
			if _, name, _ := strings.Cut(op.OperationID, "_"); op.Summary != name || !strings.HasPrefix(op.Description, name+" ") {
				t.Errorf("%s %s: summary %q and description %.40q, want the RPC's name and its comment", method, path, op.Summary, op.Description)
			}
		}
	}
}

// TestCheckRejects makes sure Check fails on each kind of mistake it exists to catch.
func TestCheckRejects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(doc *openapi3.T)
		want   string
	}{
		{"an operation without security", func(doc *openapi3.T) {
			doc.Paths.Value("/v1/bills").Get.Security = &openapi3.SecurityRequirements{}
		}, "public routes are"},
		{"another scheme", func(doc *openapi3.T) {
			doc.Components.SecuritySchemes["apiKey"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewSecurityScheme().WithType("apiKey").WithIn("header").WithName("X-Key")}
			doc.Paths.Value("/v1/bills").Get.Security = &openapi3.SecurityRequirements{{"apiKey": {}}}
		}, "does not require the bearerAuth scheme"},
		{"two templates for one URL", func(doc *openapi3.T) {
			doc.Paths.Set("/v1/bills/{bill.id}", &openapi3.PathItem{Put: doc.Paths.Value("/v1/bills/{billId}").Get})
		}, "invalid OpenAPI document"},
		{"crossed templates", func(doc *openapi3.T) {
			op := *doc.Paths.Value("/v1/bills/{billId}").Get
			op.OperationID = "Other"
			op.Parameters = openapi3.Parameters{{Value: openapi3.NewPathParameter("x").WithSchema(openapi3.NewStringSchema())}}
			doc.Paths.Set("/v1/{x}/ww", &openapi3.PathItem{Get: &op})
			op2 := op
			op2.OperationID = "Other2"
			doc.Paths.Set("/v1/zz/{x}", &openapi3.PathItem{Post: &op2})
		}, "match the same URLs"},
		{"an error answered with another schema", func(doc *openapi3.T) {
			doc.Paths.Value("/v1/bills/{billId}").Get.Responses.Set("404", &openapi3.ResponseRef{Value: openapi3.NewResponse().
				WithDescription("x").WithJSONSchema(openapi3.NewStringSchema())})
		}, "response 404"},
		{"a placeholder version", func(doc *openapi3.T) { doc.Info.Version = "version not set" }, "info.version"},
		{"a file name for title", func(doc *openapi3.T) { doc.Info.Title = "waybill/type/v1/geo.proto" }, "info.title"},
		{"no 401 on a secured operation", func(doc *openapi3.T) {
			doc.Paths.Value("/v1/bills").Get.Responses.Delete("401")
		}, "documents no 401"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := loadCommitted(t)
			c.mutate(doc)
			err := Check(context.Background(), doc)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// swagger is a small document in protoc-gen-openapiv2's shape: Get and Update of one
// resource, the second with its path parameter named after the request field.
const swagger = `{
  "swagger": "2.0",
  "info": {"title": "x.proto", "version": "version not set"},
  "consumes": ["application/json"], "produces": ["application/json"],
  "paths": {
    "/v1/things/{thingId}": {"get": {
      "summary": "GetThing returns one thing, e.g. a box.\nErrors: NOT_FOUND for an unknown id.",
      "operationId": "ThingService_GetThing",
      "parameters": [{"name": "thingId", "in": "path", "required": true, "type": "string"}],
      "responses": {"200": {"description": "A successful response.", "schema": {"type": "object"}},
                    "default": {"description": "An unexpected error response.", "schema": {"$ref": "#/definitions/rpc.Status"}}}}},
    "/v1/things/{thing.id}": {"patch": {
      "summary": "UpdateThing changes a thing.",
      "operationId": "ThingService_UpdateThing",
      "parameters": [{"name": "thing.id", "description": "The id.", "in": "path", "required": true, "type": "string"},
                     {"name": "body", "in": "body", "required": true, "schema": {"type": "object"}}],
      "responses": {"200": {"description": "A successful response.", "schema": {"type": "object"}},
                    "default": {"description": "An unexpected error response.", "schema": {"$ref": "#/definitions/rpc.Status"}}}}}
  },
  "definitions": {"rpc.Status": {"type": "object", "properties": {"code": {"type": "integer", "format": "int32"}, "message": {"type": "string"}}}}
}`

func TestConvertMergesTemplates(t *testing.T) {
	doc, err := Convert([]byte(swagger), Config{Title: "T", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if doc, err = Load(data); err != nil {
		t.Fatal(err)
	}
	if err := Check(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
	if doc.Paths.Value("/v1/things/{thing.id}") != nil {
		t.Error("the field-named template is still there")
	}
	item := doc.Paths.Value("/v1/things/{thingId}")
	if item == nil || item.Get == nil || item.Patch == nil {
		t.Fatalf("GET and PATCH should share /v1/things/{thingId}: %+v", item)
	}
	p := item.Patch.Parameters.GetByInAndName("path", "thingId")
	if p == nil || !strings.Contains(p.Description, "`thing.id`") {
		t.Errorf("PATCH path parameter = %+v, want thingId naming the field it fills", p)
	}
	if got := item.Get.Summary; got != "GetThing" {
		t.Errorf("summary = %q, want the RPC's name", got)
	}
	if got, want := item.Get.Description, "GetThing returns one thing, e.g. a box.\n\nErrors: NOT_FOUND for an unknown id."; got != want {
		t.Errorf("description = %q, want %q", got, want)
	}
	if item.Get.Responses.Value("404") == nil || item.Get.Responses.Value("413") != nil {
		t.Errorf("GET responses = %v, want 404 (NOT_FOUND) and no 413 (no body)", item.Get.Responses.Keys())
	}
	if item.Patch.Responses.Value("413") == nil {
		t.Errorf("PATCH responses = %v, want 413 (it takes a body)", item.Patch.Responses.Keys())
	}
}

func TestConvertRefusesTwoTemplatesForOneRoute(t *testing.T) {
	s := strings.Replace(swagger, `"patch"`, `"get"`, 1)
	s = strings.Replace(s, "ThingService_UpdateThing", "ThingService_GetThing2", 1)
	if _, err := Convert([]byte(s), Config{Title: "T", Version: "v1"}); err == nil || !strings.Contains(err.Error(), "are the same route") {
		t.Errorf("Convert = %v, want the same-route error", err)
	}
}

func TestAmbiguous(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"/v1/a/{id}", "/v1/a/{a.id}", true},
		{"/v1/{x}/b", "/v1/a/{y}", true},
		{"/v1/a/{id}", "/v1/a/b", false},
		{"/v1/a/{id}", "/v1/a/{id}:cancel", false},
		{"/v1/a/{id}:cancel", "/v1/a/{x}:cancel", false}, // kin-openapi's validation catches these
		{"/v1/a/{id}", "/v1/a/{id}/b", false},
		{"/v1/a", "/v1/b", false},
	}
	for _, c := range cases {
		if got := Ambiguous(c.a, c.b); got != c.want {
			t.Errorf("Ambiguous(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestRunWritesNothingInvalid checks that the command refuses input it cannot make a
// valid document of, and leaves no output behind.
func TestRunWritesNothingInvalid(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json")
	bad := strings.Replace(swagger, `"rpc.Status"`, `"Status"`, 1) // no google.rpc.Status schema
	if err := os.WriteFile(in, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"-in", in, "-out", out}, os.Stderr); err == nil {
		t.Error("run accepted a document without the error schema")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("run left %s behind: %v", out, err)
	}
	if err := os.WriteFile(in, []byte(swagger), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"-in", in, "-out", out}, os.Stderr); err != nil {
		t.Fatal(err)
	}
}
