package openapigen

import (
	"encoding/json"
	"strings"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/getkin/kin-openapi/openapi2"
)

// swagger is a protoc-gen-openapiv2 document of two routes.
const swagger = `{
  "swagger": "2.0",
  "info": {"title": "x.proto", "version": "version not set"},
  "paths": {
    "/v1/things/{id}": {
      "get": {"operationId": "ThingService_GetThing",
        "parameters": [{"name": "id", "in": "path", "required": true, "type": "string"}],
        "responses": {"200": {"description": "ok"}, "default": {"description": "error", "schema": {"$ref": "#/definitions/rpcStatus"}}}}
    },
    "/v1/ca": {
      "get": {"operationId": "ThingService_GetCA",
        "responses": {"200": {"description": "ok"}}}
    }
  },
  "definitions": {"rpcStatus": {"type": "object"}}
}`

var testRoutes = []Route{
	{Selector: "t.v1.ThingService.GetThing", Method: "GET", Path: "/v1/things/{thing.id}"},
	{Selector: "t.v1.ThingService.GetCA", Method: "GET", Path: "/v1/ca"},
}

func testRules(t *testing.T, without string) *authn.Rules {
	t.Helper()
	m := map[string]*authv1.AuthRule{
		"/t.v1.ThingService/GetThing": {Scopes: []string{"things:read"}},
		"/t.v1.ThingService/GetCA":    {Public: true},
	}
	delete(m, without)
	r, err := authn.NewRules(m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var testInfo = Info{
	Title: "T", Version: "v1.2.3", TokenURL: "/oauth2/token",
	ScopeDescription: func(s string) string { return "about " + s },
}

func TestDecorateV2(t *testing.T) {
	var doc openapi2.T
	if err := json.Unmarshal([]byte(swagger), &doc); err != nil {
		t.Fatal(err)
	}
	ops, err := DecorateV2(&doc, testInfo, testRoutes, testRules(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Path != "/v1/things/{id}" || ops[0].ID != "ThingService_GetThing" {
		t.Fatalf("operations %+v", ops)
	}
	if doc.Info.Title != "T" || doc.Info.Version != "v1.2.3" {
		t.Fatalf("info %+v", doc.Info)
	}
	get := doc.Paths["/v1/things/{id}"].Get
	if got, _ := json.Marshal(get.Security); string(got) != `[{"Bearer":["things:read"]},{"ApiKey":[]}]` {
		t.Fatalf("GetThing security %s", got)
	}
	for _, code := range []string{"400", "401", "403", "404"} {
		if get.Responses.Value(code) == nil {
			t.Errorf("GetThing has no %s response", code)
		}
	}
	ca := doc.Paths["/v1/ca"].Get
	if ca.Security == nil || len(*ca.Security) != 0 {
		t.Fatalf("GetCA security %v, want an empty list (public)", ca.Security)
	}
	if ca.Responses.Value("401") != nil || ca.Responses.Value("404") != nil {
		t.Fatal("a public operation without path parameters got 401 or 404")
	}
	bearer := doc.SecurityDefinitions[SchemeBearer]
	if bearer == nil || bearer.Type != "oauth2" || bearer.TokenURL != "/oauth2/token" || bearer.Scopes["things:read"] != "about things:read" {
		t.Fatalf("Bearer definition %+v", bearer)
	}
	if k := doc.SecurityDefinitions[SchemeAPIKey]; k == nil || k.Type != "apiKey" || k.In != "header" {
		t.Fatalf("ApiKey definition %+v", k)
	}
}

func TestDecorateV2Refuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(doc *openapi2.T) []Route
		noRule string
		want   string
	}{{
		name: "a route without an operation",
		edit: func(*openapi2.T) []Route {
			return append(testRoutes, Route{Selector: "t.v1.ThingService.DeleteThing", Method: "DELETE", Path: "/v1/things/{id}"})
		},
		want: "has no operation",
	}, {
		name: "an operation without a route",
		edit: func(*openapi2.T) []Route { return testRoutes[:1] },
		want: "matches no gateway route",
	}, {
		name:   "a route without a rule",
		edit:   func(*openapi2.T) []Route { return testRoutes },
		noRule: "/t.v1.ThingService/GetCA",
		want:   "has no auth rule",
	}, {
		name: "one path under two names",
		edit: func(doc *openapi2.T) []Route {
			doc.Paths["/v1/things/{thing.id}"] = &openapi2.PathItem{Patch: &openapi2.Operation{OperationID: "ThingService_UpdateThing"}}
			return testRoutes
		},
		want: "one path with different parameter names",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var doc openapi2.T
			if err := json.Unmarshal([]byte(swagger), &doc); err != nil {
				t.Fatal(err)
			}
			routes := tc.edit(&doc)
			_, err := DecorateV2(&doc, testInfo, routes, testRules(t, tc.noRule))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
