package openapigen

import (
	"reflect"
	"testing"
)

func TestParseRoutes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		want    []Route
		wantErr bool
	}{{
		name: "routes",
		yaml: `
http:
  rules:
    - selector: gatehouse.inventory.v1.InventoryService.GetItem
      get: /v1/inventory/items/{id}
    - selector: gatehouse.inventory.v1.InventoryService.UpdateItem
      patch: /v1/inventory/items/{item.id}
      body: "item"
`,
		want: []Route{
			{Selector: "gatehouse.inventory.v1.InventoryService.GetItem", Method: "GET", Path: "/v1/inventory/items/{id}"},
			{Selector: "gatehouse.inventory.v1.InventoryService.UpdateItem", Method: "PATCH", Path: "/v1/inventory/items/{item.id}"},
		},
	}, {
		name:    "two methods",
		yaml:    "http:\n  rules:\n    - {selector: a.B.C, get: /x, post: /x}\n",
		wantErr: true,
	}, {
		name:    "no method",
		yaml:    "http:\n  rules:\n    - {selector: a.B.C}\n",
		wantErr: true,
	}, {
		name:    "no selector",
		yaml:    "http:\n  rules:\n    - {get: /x}\n",
		wantErr: true,
	}, {
		name:    "not YAML",
		yaml:    "http: [",
		wantErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRoutes([]byte(tc.yaml))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRouteFullMethodAndShape(t *testing.T) {
	r := Route{Selector: "gatehouse.clients.v1.ClientRegistryService.UpdateClient", Path: "/v1/clients/{client.client_id}"}
	if got := r.FullMethod(); got != "/gatehouse.clients.v1.ClientRegistryService/UpdateClient" {
		t.Fatalf("FullMethod = %q", got)
	}
	for _, tc := range []struct{ a, b string }{
		{"/v1/clients/{client.client_id}", "/v1/clients/{client_id}"},
		{"/v1/clients/{client_id=*}:rotateSecret", "/v1/clients/{id}:rotateSecret"},
	} {
		if pathShape(tc.a) != pathShape(tc.b) {
			t.Errorf("%s and %s differ in shape", tc.a, tc.b)
		}
	}
	if pathShape("/v1/clients/{id}") == pathShape("/v1/clients/{id}:rotateSecret") {
		t.Error("a custom verb does not change the shape")
	}
}
