// Package k8stest is a fake of the part of the Kubernetes API that the
// first-admin-key Job uses (a namespace's Secrets, a bearer token, RBAC
// allowing get on one name and create), served over TLS with a service
// account mount written for it. Kubernetes cannot run here; everything
// else in those tests is real.
package k8stest

import (
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// API is the part of the Kubernetes API the Job uses: Secrets of one
// namespace, a bearer token, and RBAC that allows get on one name and
// create.
type API struct {
	mu      sync.Mutex
	Token   string
	NS      string
	GetName string // the one Secret get is allowed on
	secrets map[string]map[string][]byte
}

func (f *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "code": code, "message": msg})
	}
	if r.Header.Get("Authorization") != "Bearer "+f.Token {
		status(http.StatusUnauthorized, "Unauthorized")
		return
	}
	prefix := "/api/v1/namespaces/" + f.NS + "/secrets"
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, prefix+"/"):
		name := strings.TrimPrefix(r.URL.Path, prefix+"/")
		if name != f.GetName {
			status(http.StatusForbidden, `secrets "`+name+`" is forbidden`)
			return
		}
		if _, ok := f.secrets[name]; !ok {
			status(http.StatusNotFound, `secrets "`+name+`" not found`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Secret", "data": f.secrets[name]})
	case r.Method == http.MethodPost && r.URL.Path == prefix:
		var s struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Data map[string][]byte `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil || s.Kind != "Secret" || s.Metadata.Namespace != f.NS {
			status(http.StatusBadRequest, "bad secret")
			return
		}
		if _, ok := f.secrets[s.Metadata.Name]; ok {
			status(http.StatusConflict, `secrets "`+s.Metadata.Name+`" already exists`)
			return
		}
		f.secrets[s.Metadata.Name] = s.Data
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"kind":"Secret"}`))
	default:
		status(http.StatusForbidden, "forbidden")
	}
}

// start serves the fake API over TLS and writes a service account
// mount for it; it returns the mount and the environment of a pod.
func start(t *testing.T, api *API) (dir string, getenv func(string) string) {
	t.Helper()
	srv := httptest.NewTLSServer(api)
	t.Cleanup(srv.Close)
	dir = t.TempDir()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for name, content := range map[string][]byte{"token": []byte(api.Token + "\n"), "namespace": []byte(api.NS), "ca.crt": caPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := url.Parse(srv.URL)
	host, port, _ := net.SplitHostPort(u.Host)
	env := map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
	return dir, func(k string) string { return env[k] }
}

// Start serves a fake API for namespace ns, token and the one Secret
// name get is allowed on; it returns the service account mount and the
// environment of a pod.
func Start(t *testing.T, ns, token, getName string) (api *API, dir string, getenv func(string) string) {
	t.Helper()
	api = &API{Token: token, NS: ns, GetName: getName, secrets: map[string]map[string][]byte{}}
	dir, getenv = start(t, api)
	return api, dir, getenv
}

// Secret is the data of the Secret name, nil if there is none.
func (f *API) Secret(name string) map[string][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.secrets[name]
}
