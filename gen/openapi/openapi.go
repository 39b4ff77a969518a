// Package openapi embeds Waybill's OpenAPI 3 document and its API reference page, both
// generated from the protos' google.api.http annotations and comments by `make generate`
// (protoc-gen-openapiv2, converted and completed by tools/openapi; the page is Redoc's).
package openapi

import _ "embed"

// JSON is the OpenAPI 3 document for every public Waybill API, served at /openapi.json.
//
//go:embed waybill.openapi.json
var JSON []byte

// DocsHTML is the human-readable API reference rendered from JSON, served at /docs: one
// self-contained HTML page (Redoc's scripts and the document inlined) that loads nothing
// from the network.
//
//go:embed docs.html
var DocsHTML []byte
