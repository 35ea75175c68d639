package k8ssecret

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/k8ssecret/k8stest"
)

func TestCreateOnce(t *testing.T) {
	api, dir, getenv := k8stest.Start(t, "gatehouse", "sa-token", "admin")
	c, err := InCluster(getenv, dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, err := c.Exists(ctx, "admin"); err != nil || ok {
		t.Fatalf("Exists before: %v %v", ok, err)
	}
	if err := c.Create(ctx, "admin", map[string]string{"app": "gatehouse"}, map[string][]byte{"admin-credentials.json": []byte(`{"api_key":"k"}`)}); err != nil {
		t.Fatal(err)
	}
	if string(api.Secret("admin")["admin-credentials.json"]) != `{"api_key":"k"}` {
		t.Fatalf("stored %q", api.Secret("admin"))
	}
	if ok, err := c.Exists(ctx, "admin"); err != nil || !ok {
		t.Fatalf("Exists after: %v %v", ok, err)
	}
	if err := c.Create(ctx, "admin", nil, map[string][]byte{"x": nil}); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	// RBAC refusals surface with the API's message.
	if _, err := c.Exists(ctx, "other"); err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("Exists on a forbidden name: %v", err)
	}
}

func TestInClusterRefusals(t *testing.T) {
	_, dir, getenv := k8stest.Start(t, "gatehouse", "sa-token", "admin")
	for _, tc := range []struct {
		name   string
		getenv func(string) string
		dir    string
		want   string
	}{
		{"outside a pod", func(string) string { return "" }, dir, "not running in a Kubernetes pod"},
		{"no token", getenv, t.TempDir(), "token"},
	} {
		if _, err := InCluster(tc.getenv, tc.dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := New("http://api:6443", "ns", "t", nil); err == nil {
		t.Error("a plain-http API server was accepted")
	}
	// A wrong token: 401, named.
	c, err := InCluster(getenv, dir)
	if err != nil {
		t.Fatal(err)
	}
	c.token = "stolen" // not the service account's
	if _, err := c.Exists(context.Background(), "admin"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
}
