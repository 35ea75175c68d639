// Package k8ssecret reads and creates one Kubernetes Secret from inside a
// pod, with the pod's service account: what the first-admin-key Job needs
// (deploy/k8s/base/admin-key.yaml), without client-go and its dependency
// tree for two REST calls.
//
// The Job's Role allows `get` on the one Secret (by name) and `create` on
// Secrets (Kubernetes cannot narrow `create` by name): nothing can be read,
// changed or deleted beyond that Secret.
package k8ssecret

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ServiceAccountDir is where Kubernetes mounts a pod's service account
// credentials: token, ca.crt and namespace.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ErrExists is Create's error when the Secret exists already (HTTP 409).
var ErrExists = errors.New("the secret exists already")

// Client calls the Kubernetes API for the Secrets of one namespace.
type Client struct {
	base      string // https://host:port
	namespace string
	token     string
	http      *http.Client
}

// InCluster is the Client of the pod's service account: the API server from
// KUBERNETES_SERVICE_HOST and _PORT, the credentials from dir (normally
// ServiceAccountDir).
func InCluster(getenv func(string) string, dir string) (*Client, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
	}
	token, err := os.ReadFile(filepath.Join(dir, "token")) //nolint:gosec // the service account's mount
	if err != nil {
		return nil, fmt.Errorf("service account token: %w", err)
	}
	ns, err := os.ReadFile(filepath.Join(dir, "namespace")) //nolint:gosec // the service account's mount
	if err != nil {
		return nil, fmt.Errorf("service account namespace: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt")) //nolint:gosec // the service account's mount
	if err != nil {
		return nil, fmt.Errorf("service account CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("service account CA: no PEM certificate in ca.crt")
	}
	return New("https://"+net.JoinHostPort(host, port), strings.TrimSpace(string(ns)), strings.TrimSpace(string(token)), roots)
}

// New is the Client of the API server at base (https only), acting in
// namespace with a bearer token, verifying the server with roots.
func New(base, namespace, token string, roots *x509.CertPool) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("kubernetes API %q: an https URL is required", base)
	}
	if namespace == "" || token == "" {
		return nil, errors.New("kubernetes API: namespace and token are required")
	}
	return &Client{
		base: strings.TrimSuffix(base, "/"), namespace: namespace, token: token,
		http: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
				Proxy:           nil, // the token goes to the API server only
			},
		},
	}, nil
}

// Namespace is the namespace the Client acts in.
func (c *Client) Namespace() string { return c.namespace }

func (c *Client) secretsURL() string {
	return c.base + "/api/v1/namespaces/" + url.PathEscape(c.namespace) + "/secrets"
}

// Exists reports whether the Secret name exists.
func (c *Client) Exists(ctx context.Context, name string) (bool, error) {
	resp, err := c.do(ctx, http.MethodGet, c.secretsURL()+"/"+url.PathEscape(name), nil)
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, apiError("get secret "+name, resp)
}

// Create creates the Opaque Secret name holding data; ErrExists if it is
// there already (another run made it first).
func (c *Client) Create(ctx context.Context, name string, labels map[string]string, data map[string][]byte) error {
	body, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]any{"name": name, "namespace": c.namespace, "labels": labels},
		"data":     data, // []byte marshals as base64, as the API wants
	})
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPost, c.secretsURL(), body)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusOK:
		return nil
	case http.StatusConflict:
		return fmt.Errorf("create secret %s: %w", name, ErrExists)
	}
	return apiError("create secret "+name, resp)
}

// response is the status and the start of the body, read and closed.
type response struct {
	StatusCode int
	body       []byte
}

func (c *Client) do(ctx context.Context, method, u string, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kubernetes API: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	// A Status object's message is enough; a Secret read back is never
	// printed.
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return &response{StatusCode: resp.StatusCode, body: b}, nil
}

// apiError names the failed call and the API's own message (a Status
// object), never a Secret's content.
func apiError(what string, resp *response) error {
	var st struct {
		Message string `json:"message"`
		Kind    string `json:"kind"`
	}
	msg := http.StatusText(resp.StatusCode)
	if json.Unmarshal(resp.body, &st) == nil && st.Kind == "Status" && st.Message != "" {
		msg = st.Message
	}
	return fmt.Errorf("%s: kubernetes API answered %d: %s", what, resp.StatusCode, msg)
}
