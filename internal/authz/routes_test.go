package authz

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRoutesErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "routes.yaml:1: no routes"},
		{"not yaml", "routes: [", "routes.yaml:1: not valid YAML"},
		{"unknown key", "routes:\n  - methods: [GET]\n    path: /a\n    scope: [x]\n", "routes.yaml:4: field scope not found"},
		{"no methods", "routes:\n  - path: /a\n    scopes: [x]\n", "routes.yaml:2: methods: at least one"},
		{"lower-case method", "routes:\n  - methods: [get]\n    path: /a\n    scopes: [x]\n", `routes.yaml:2: method "get"`},
		{"relative path", "routes:\n  - methods: [GET]\n    path: a\n    scopes: [x]\n", `routes.yaml:2: path "a" must start with /`},
		{"dot segment", "routes:\n  - methods: [GET]\n    path: /a/../b\n    scopes: [x]\n", `segment ".."`},
		{"wildcard in the middle", "routes:\n  - methods: [GET]\n    path: /a/*/b\n    scopes: [x]\n", `segment "*"`},
		{"empty segment", "routes:\n  - methods: [GET]\n    path: /a//b\n    scopes: [x]\n", "empty segment"},
		{"bad scope", "routes:\n  - methods: [GET]\n    path: /a\n    scopes: ['a\"b']\n", "routes.yaml:2: invalid scope"},
		{"unknown credential", "routes:\n  - methods: [GET]\n    path: /a\n    scopes: [x]\n    credentials: [password]\n", `routes.yaml:2: credential "password"`},
		{"public with scopes", "routes:\n  - methods: [GET]\n    path: /a\n    scopes: [x]\n    allow_unauthenticated: true\n", "routes.yaml:2: a public rule cannot name scopes"},
		{"no scopes", "routes:\n  - methods: [GET]\n    path: /a\n", "routes.yaml:2: no scopes"},
		{"empty alternative", "routes:\n  - methods: [GET]\n    path: /a\n    scopes: [x]\n    alternative_scopes: [[]]\n", "empty alternative scope set"},
		{"public with audience", "routes:\n  - methods: [GET]\n    path: /a\n    audience: https://api\n    allow_unauthenticated: true\n", "routes.yaml:2: a public route cannot name an audience"},
		{"bad audience", "routes:\n  - methods: [GET]\n    path: /a\n    scopes: [x]\n    audience: 'a b'\n", `routes.yaml:2: audience "a b"`},
		{"second route bad", "routes:\n  - methods: [GET]\n    path: /a\n    scopes: [x]\n  - methods: [GET]\n    path: /b\n", "routes.yaml:5: no scopes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRoutes("routes.yaml", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

const testRoutes = `routes:
  - methods: [GET]
    path: /orders/{id}
    scopes: [orders:read]
  - methods: [POST]
    path: /orders
    scopes: [orders:write]
    alternative_scopes: [[orders:admin]]
  - methods: [GET]
    path: /health
    allow_unauthenticated: true
  - methods: [GET, POST]
    hosts: [admin.example.com]
    path: /admin/**
    scopes: [admin]
    credentials: [api_key]
  - methods: [GET]
    path: /static/**
    scopes: [static]
  - methods: [GET]
    path: /
    scopes: [root]
`

func TestRoutesMatch(t *testing.T) {
	rs, err := ParseRoutes("routes.yaml", []byte(testRoutes))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, host, path string
		wantLine           string
	}{
		{"GET", "", "/orders/42", "line2"},
		{"HEAD", "", "/orders/42", "line2"},
		{"GET", "", "/orders/42/items", "unmatched"},
		{"GET", "", "/orders/", "unmatched"},
		{"GET", "", "/orders", "unmatched"},
		{"DELETE", "", "/orders/42", "unmatched"},
		{"POST", "", "/orders", "line5"},
		{"POST", "", "/orders/", "unmatched"},
		{"GET", "", "/health", "line9"},
		{"GET", "admin.example.com", "/admin", "line12"},
		{"POST", "admin.example.com", "/admin/users/1", "line12"},
		{"GET", "other.example.com", "/admin/users/1", "unmatched"},
		{"GET", "", "/administrator", "unmatched"},
		{"GET", "", "/static/app.js", "line17"},
		{"GET", "", "/staticx", "unmatched"},
		{"GET", "", "/", "line20"},
		{"GET", "", "/elsewhere", "unmatched"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host+tt.path, func(t *testing.T) {
			got := "unmatched"
			if r := rs.match(tt.method, tt.host, tt.path); r != nil {
				got = strings.TrimPrefix(r.method, methodPrefix)
			}
			if got != tt.wantLine {
				t.Fatalf("match = %s, want %s", got, tt.wantLine)
			}
		})
	}
}

func TestCleanTarget(t *testing.T) {
	tests := []struct {
		uri, path string
		ok        bool
	}{
		{"/orders/1?x=1", "/orders/1", true},
		{"/orders/%31", "/orders/1", true},
		{"/a/", "/a/", true},
		{"/a/../admin", "", false},
		{"/a/%2e%2e/admin", "", false},
		{"//admin", "", false},
		{"/a%2Fb", "", false},
		{"/a/./b", "", false},
		{"http://example.com/a", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			p, _, err := cleanTarget(tt.uri)
			if (err == nil) != tt.ok || p != tt.path {
				t.Fatalf("cleanTarget = %q, %v; want %q, ok=%v", p, err, tt.path, tt.ok)
			}
		})
	}
}

func TestLoadRoutesNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte("routes:\n  - methods: [GET]\n    path: nope\n    scopes: [x]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadRoutes(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: ") {
		t.Fatalf("error %v, want it to start with %s:2:", err, path)
	}
}
