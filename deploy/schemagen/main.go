// Command schemagen writes the JSON schemas that scripts/deploy-check.sh validates the
// Kubernetes manifests in deploy/k8s against, offline.
//
// kubeconform normally downloads such schemas at run time; these machines reach only the
// Go module proxy, Debian and npm. The Kubernetes OpenAPI document ships inside the
// k8s.io/kubernetes Go module (api/openapi-spec/swagger.json), which the Go module proxy
// serves and the Go checksum database pins, so this command converts it the way
// kubeconform's own schemas are made (openapi2jsonschema, "strict" variant):
//
//   - one file per kind, named as kubeconform's -schema-location template expects
//     ({{ .ResourceKind }}{{ .KindSuffix }}.json, e.g. deployment-apps-v1.json), holding
//     a $ref into a shared _definitions.json;
//   - _definitions.json holds only the definitions those kinds reach, without their
//     descriptions (kubeconform never shows them);
//   - strict: every object with listed properties gets additionalProperties: false, so
//     a misspelt or misplaced field is an error;
//   - IntOrString becomes string-or-integer and Quantity string-or-number, as the
//     API server accepts them.
//
// Usage (scripts/deploy-check.sh --regenerate runs it):
//
//	go run ./deploy/schemagen -swagger DIR/api/openapi-spec/swagger.json -source k8s.io/kubernetes@v1.37.2 -out deploy/schemas/v1.37.2
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// kinds are the group/version/kind triples the manifests may use; a kind not listed has
// no schema, which the check reports as an error.
var kinds = []string{
	"/v1/ConfigMap",
	"/v1/Secret",
	"/v1/Service",
	"/v1/ServiceAccount",
	"/v1/Namespace",
	"apps/v1/Deployment",
	"apps/v1/StatefulSet",
	"autoscaling/v2/HorizontalPodAutoscaler",
	"policy/v1/PodDisruptionBudget",
	"networking.k8s.io/v1/NetworkPolicy",
	"networking.k8s.io/v1/Ingress",
	"batch/v1/Job",
	"batch/v1/CronJob",
}

const (
	intOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	quantity    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	refPrefix   = "#/definitions/"
)

func main() {
	swagger := flag.String("swagger", "", "the Kubernetes OpenAPI v2 document (api/openapi-spec/swagger.json of the k8s.io/kubernetes module)")
	out := flag.String("out", "", "output folder")
	source := flag.String("source", "", "where the document came from (module@version), written to SOURCE")
	flag.Parse()
	if *swagger == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: schemagen -swagger swagger.json -out DIR [-source module@version]")
		os.Exit(2)
	}
	if err := run(*swagger, *out, *source); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run(swaggerPath, out, source string) error {
	raw, err := os.ReadFile(swaggerPath)
	if err != nil {
		return err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", swaggerPath, err)
	}
	defs := doc.Definitions
	byGVK := map[string]string{}
	for name, d := range defs {
		gvks, _ := d["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			m, _ := g.(map[string]any)
			byGVK[fmt.Sprintf("%v/%v/%v", m["group"], m["version"], m["kind"])] = name
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	reach := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if reach[name] {
			return
		}
		d, ok := defs[name]
		if !ok {
			panic("undefined reference " + name)
		}
		reach[name] = true
		for _, r := range refs(d, nil) {
			visit(r)
		}
	}
	for _, k := range kinds {
		name, ok := byGVK[k]
		if !ok {
			return fmt.Errorf("no definition for %s", k)
		}
		visit(name)
		parts := strings.Split(k, "/") // group, version, kind (group "" for the core API)
		group, version, kind := parts[0], parts[1], parts[len(parts)-1]
		file := strings.ToLower(kind)
		if group != "" {
			file += "-" + strings.ToLower(strings.Split(group, ".")[0])
		}
		file += "-" + version + ".json"
		apiVersion := version
		if group != "" {
			apiVersion = group + "/" + version
		}
		// The kind's own file: its definition, with apiVersion and kind pinned, so a
		// manifest reaching this file under another kind's name still fails.
		schema := map[string]any{
			"$schema": "http://json-schema.org/draft-04/schema#",
			"allOf": []any{
				map[string]any{"$ref": "_definitions.json" + refPrefix + name},
				map[string]any{
					"required": []any{"apiVersion", "kind", "metadata"},
					"properties": map[string]any{
						"apiVersion": map[string]any{"enum": []any{apiVersion}},
						"kind":       map[string]any{"enum": []any{kind}},
					},
				},
			},
		}
		if err := writeJSON(filepath.Join(out, file), schema); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(reach))
	for n := range reach {
		names = append(names, n)
	}
	sort.Strings(names)
	kept := map[string]any{}
	for _, n := range names {
		switch n {
		case intOrString:
			kept[n] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		case quantity:
			kept[n] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
		default:
			kept[n] = transform(defs[n])
		}
	}
	if err := writeJSON(filepath.Join(out, "_definitions.json"), map[string]any{
		"$schema":     "http://json-schema.org/draft-04/schema#",
		"definitions": kept,
	}); err != nil {
		return err
	}
	if source != "" {
		note := fmt.Sprintf("Generated by deploy/schemagen from api/openapi-spec/swagger.json of the Go module %s\n"+
			"(served by the Go module proxy, pinned by the Go checksum database). Kinds: %s.\n"+
			"Regenerate: scripts/deploy-check.sh --regenerate\n", source, strings.Join(kinds, ", "))
		if err := os.WriteFile(filepath.Join(out, "SOURCE"), []byte(note), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// refs appends the definitions v refers to.
func refs(v any, acc []string) []string {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && k == "$ref" {
				acc = append(acc, strings.TrimPrefix(s, refPrefix))
				continue
			}
			acc = refs(x, acc)
		}
	case []any:
		for _, x := range t {
			acc = refs(x, acc)
		}
	}
	return acc
}

// transform returns a definition's schema for validation: descriptions dropped, refs
// pointing into the same file, objects with properties closed (strict).
func transform(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, x := range t {
			switch k {
			case "description":
				continue
			case "properties":
				// A map from field name to schema: field names are not keywords.
				props := map[string]any{}
				for name, s := range x.(map[string]any) {
					props[name] = transform(s)
				}
				m[k] = props
				continue
			}
			m[k] = transform(x)
		}
		if _, ok := m["properties"]; ok {
			if _, set := m["additionalProperties"]; !set {
				m["additionalProperties"] = false
			}
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = transform(x)
		}
		return out
	}
	return v
}

func writeJSON(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
