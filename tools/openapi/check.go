package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Check reports every way doc falls short of what the gateway's clients rely on: it must
// be a valid OpenAPI 3 document (kin-openapi's validation), say what it is (no
// placeholder title or version), resolve every URL to one path, give every operation a
// unique operationId, need the bearer token on every operation except the gateway's
// public routes, and answer every 4xx and 5xx status of an API operation with the
// google.rpc.Status schema (the public /healthz answers 503 with its own body).
// The generator refuses to write a document that fails, and the tests run it on the
// committed one.
func Check(ctx context.Context, doc *openapi3.T) error {
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		return fmt.Errorf("openapi version %q, want 3.x", doc.OpenAPI)
	}
	if err := doc.Validate(ctx); err != nil {
		return fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	var problems []error
	fail := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if t := doc.Info.Title; t == "" || strings.HasSuffix(t, ".proto") {
		fail("info.title %q is not a title", t)
	}
	if v := doc.Info.Version; v == "" || v == "version not set" {
		fail("info.version %q is not a version", v)
	}
	if len(doc.Servers) == 0 {
		fail("no servers")
	}
	if s := doc.Components.SecuritySchemes[BearerScheme]; s == nil || s.Value == nil ||
		s.Value.Type != "http" || !strings.EqualFold(s.Value.Scheme, "bearer") {
		fail("no http bearer security scheme %q", BearerScheme)
	}

	paths := doc.Paths.Keys()
	slices.Sort(paths)
	for i, a := range paths {
		for _, b := range paths[:i] {
			if Ambiguous(a, b) {
				fail("paths %s and %s match the same URLs", b, a)
			}
		}
	}

	ids := map[string]string{}
	var public []string
	for _, path := range paths {
		for method, op := range doc.Paths.Value(path).Operations() {
			route := method + " " + path
			if op.OperationID == "" {
				fail("%s has no operationId", route)
			} else if other, dup := ids[op.OperationID]; dup {
				fail("%s and %s share operationId %s", other, route, op.OperationID)
			}
			ids[op.OperationID] = route
			if op.Summary == "" {
				fail("%s has no summary", route)
			}
			security := doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			switch {
			case len(security) == 0:
				public = append(public, path)
			case !needsBearer(security):
				fail("%s does not require the %s scheme", route, BearerScheme)
			}
			if op.Responses == nil {
				fail("%s has no responses", route)
				continue
			}
			for code, ref := range op.Responses.Map() {
				if len(security) == 0 || code != "default" && code[0] != '4' && code[0] != '5' {
					continue
				}
				if err := errorShaped(ref); err != nil {
					fail("%s response %s: %w", route, code, err)
				}
			}
			if len(security) > 0 && op.Responses.Value("401") == nil {
				fail("%s needs a token but documents no 401", route)
			}
		}
	}
	slices.Sort(public)
	want := slices.Sorted(slices.Values(PublicRoutes))
	if !slices.Equal(public, want) {
		fail("public routes are %v, want exactly the gateway's %v", public, want)
	}
	return errors.Join(problems...)
}

// needsBearer reports whether every alternative of security includes the bearer scheme.
func needsBearer(security openapi3.SecurityRequirements) bool {
	for _, alt := range security {
		if _, ok := alt[BearerScheme]; !ok {
			return false
		}
	}
	return len(security) > 0
}

// errorShaped checks that an error response's JSON body is a google.rpc.Status.
func errorShaped(ref *openapi3.ResponseRef) error {
	if ref == nil || ref.Value == nil {
		return errors.New("unresolved")
	}
	mt := ref.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return errors.New("no application/json body")
	}
	if mt.Schema.Ref != StatusRef {
		return fmt.Errorf("body is %q, want %s", mt.Schema.Ref, StatusRef)
	}
	return nil
}

// Ambiguous reports whether two path templates can match the same URL with neither more
// specific than the other: the same number of segments, equal literal segments, and as
// many whole-segment parameters in each (the rule of Redocly's no-ambiguous-paths, which
// also covers templates that differ only in parameter names).
func Ambiguous(a, b string) bool {
	sa, sb := strings.Split(a, "/"), strings.Split(b, "/")
	if len(sa) != len(sb) {
		return false
	}
	isParam := func(s string) bool {
		return strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && strings.Count(s, "{") == 1
	}
	va, vb := 0, 0
	for i := range sa {
		pa, pb := isParam(sa[i]), isParam(sb[i])
		if pa {
			va++
		}
		if pb {
			vb++
		}
		if !pa && !pb && sa[i] != sb[i] {
			return false
		}
	}
	return va == vb
}
