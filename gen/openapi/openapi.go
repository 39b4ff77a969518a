// Package openapi embeds Waybill's OpenAPI (Swagger 2.0) document, generated from the
// protos' google.api.http annotations and comments by `make generate`.
package openapi

import _ "embed"

// JSON is the merged OpenAPI document for every public Waybill API.
//
//go:embed waybill.swagger.json
var JSON []byte
