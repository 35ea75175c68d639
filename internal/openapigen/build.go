package openapigen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi3"
)

// Documents are the published documents, as written to gen/.
type Documents struct {
	V2  []byte
	V31 []byte
}

// Build decorates swagger (protoc-gen-openapiv2's merged document) with
// the routes of gatewayConfig and the rules, and converts it to OpenAPI 3.1.
func Build(ctx context.Context, swagger, gatewayConfig []byte, rules RuleSource, info Info) (Documents, error) {
	routes, err := ParseRoutes(gatewayConfig)
	if err != nil {
		return Documents{}, err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(swagger, &doc2); err != nil {
		return Documents{}, fmt.Errorf("parse the OpenAPI v2 document: %w", err)
	}
	ops, err := DecorateV2(&doc2, info, routes, rules)
	if err != nil {
		return Documents{}, fmt.Errorf("OpenAPI v2: %w", err)
	}
	var orig map[string]any
	if err := json.Unmarshal(swagger, &orig); err != nil {
		return Documents{}, fmt.Errorf("parse the OpenAPI v2 document: %w", err)
	}
	v2, err := overlayV2(orig, &doc2, ops)
	if err != nil {
		return Documents{}, err
	}
	doc3, err := ToV31(ctx, &doc2, ops, info)
	if err != nil {
		return Documents{}, err
	}
	v3, err := withRefDescriptions(doc3, orig)
	if err != nil {
		return Documents{}, err
	}
	// What is written is what is checked: the final bytes load and validate.
	final, err := openapi3.NewLoader().LoadFromData(v3)
	if err != nil {
		return Documents{}, fmt.Errorf("load the OpenAPI 3.1 document: %w", err)
	}
	if err := final.Validate(ctx); err != nil {
		return Documents{}, fmt.Errorf("the OpenAPI 3.1 document: %w", err)
	}
	return Documents{V2: v2, V31: v3}, nil
}

// overlayV2 is protoc-gen-openapiv2's document with what DecorateV2 set:
// the info, the security definitions and each operation's security and
// responses. The rest is left as the plugin wrote it (a round trip through
// openapi2.T would drop the descriptions next to each $ref).
func overlayV2(orig map[string]any, doc2 *openapi2.T, ops []Operation) ([]byte, error) {
	dec, err := generic(doc2)
	if err != nil {
		return nil, err
	}
	orig["info"] = dec["info"]
	orig["securityDefinitions"] = dec["securityDefinitions"]
	origPaths, _ := orig["paths"].(map[string]any)
	decPaths, _ := dec["paths"].(map[string]any)
	for _, op := range ops {
		o, ok1 := dig(origPaths, op.Path, lower(op.Method))
		d, ok2 := dig(decPaths, op.Path, lower(op.Method))
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s %s is missing from the v2 document", op.Method, op.Path)
		}
		o["security"], o["responses"] = d["security"], d["responses"]
	}
	return marshal(orig)
}

// withRefDescriptions is doc3 with the descriptions protoc-gen-openapiv2
// wrote next to a property's $ref (a field's comment, where its type is a
// message or enum) put back: OpenAPI 3.1 reads them, and the conversion
// from v2, where they are ignored, dropped them.
func withRefDescriptions(doc3 *openapi3.T, orig map[string]any) ([]byte, error) {
	m, err := generic(doc3)
	if err != nil {
		return nil, err
	}
	schemas, _ := dig(m, "components", "schemas")
	defs, _ := orig["definitions"].(map[string]any)
	for name, def := range defs {
		props, ok := dig(def.(map[string]any), "properties")
		if !ok {
			continue
		}
		for prop, p := range props {
			ps, _ := p.(map[string]any)
			desc, hasDesc := ps["description"].(string)
			if _, isRef := ps["$ref"]; !isRef || !hasDesc {
				continue
			}
			target, ok := dig(schemas, name, "properties", prop)
			if !ok {
				return nil, fmt.Errorf("schema %s has no property %s in the OpenAPI 3.1 document", name, prop)
			}
			target["description"] = desc
		}
	}
	return marshal(m)
}

// dig follows keys through nested JSON objects.
func dig(m map[string]any, keys ...string) (map[string]any, bool) {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}

func lower(method string) string { return string(bytes.ToLower([]byte(method))) }

// generic is v as plain JSON values.
func generic(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode the document: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode the document: %w", err)
	}
	return m, nil
}

// marshal writes v as indented JSON, map keys sorted, so that make gen
// reproduces it byte for byte.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode the document: %w", err)
	}
	return buf.Bytes(), nil
}
