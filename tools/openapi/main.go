// Command openapi writes Waybill's OpenAPI 3 document. grpc-gateway's
// protoc-gen-openapiv2 describes the REST routes exactly as the gateway serves them
// (request bodies without their path fields, query parameters, stream wrappers), but in
// Swagger 2.0; this command converts its merged output with kin-openapi and adds what
// neither knows (see Convert), then refuses to write a document that fails Check.
// `make generate` runs it (through scripts/openapi-generate.sh) after buf generate.
//
// The folder also pins the npm tools that lint the document and render its reference page
// (package.json, package-lock.json; scripts/openapi-lint.sh).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/getkin/kin-openapi/openapi3"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "the merged Swagger 2.0 document protoc-gen-openapiv2 wrote")
	out := fs.String("out", "", "where to write the OpenAPI 3 document")
	c := Config{}
	fs.StringVar(&c.Title, "title", "Waybill API", "the document's title")
	fs.StringVar(&c.Version, "version", "v1", "the API's version")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return fmt.Errorf("-in and -out are required")
	}
	swagger, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	doc, err := Convert(swagger, c)
	if err != nil {
		return err
	}
	data, err := Marshal(doc)
	if err != nil {
		return err
	}
	// Check what clients will read: the written bytes, loaded afresh.
	loaded, err := Load(data)
	if err != nil {
		return err
	}
	if err := Check(ctx, loaded); err != nil {
		return fmt.Errorf("the generated document fails its checks:\n%w", err)
	}
	return os.WriteFile(*out, data, 0o644)
}

// Marshal encodes doc as JSON indented by two spaces, with a final newline, object keys
// sorted (so every run writes the same bytes) and <, > and & left as they are.
func Marshal(doc any) ([]byte, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	// Decode and encode again: kin-openapi's marshalers escape HTML characters
	// themselves, so only a fresh encoding can leave them readable.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Load reads an OpenAPI 3 document the way clients do, resolving its references.
func Load(data []byte) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	return doc, nil
}
