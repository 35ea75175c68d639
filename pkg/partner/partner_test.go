package partner

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func clientCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "partner"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTokenSource: tokens are fetched over mutual TLS with client_id and
// the scopes, and reused; refusals are reported as *Error. Renewal is
// pkg/clientcreds's, tested there.
func TestTokenSource(t *testing.T) {
	var fetches atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != "c_partner" || r.PostForm.Get("scope") != "a b" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"bad form"}`))
			return
		}
		n := fetches.Add(1)
		_, _ = w.Write([]byte(`{"access_token":"tok-` + string(rune('0'+n)) + `","token_type":"Bearer","expires_in":300}`))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	cfg := Config{TokenURL: srv.URL, ClientID: "c_partner", Certificate: clientCert(t), RootCAs: roots, Scopes: []string{"a", "b"}}
	src := cfg.TokenSource()
	ctx := context.Background()
	t1, err := src.Token(ctx)
	if err != nil || t1.AccessToken != "tok-1" {
		t.Fatalf("first token: %v %v", t1, err)
	}
	if t2, _ := src.Token(ctx); t2.AccessToken != "tok-1" || fetches.Load() != 1 {
		t.Fatalf("token not reused: %v after %d fetches", t2, fetches.Load())
	}

	bad := cfg
	bad.Scopes = []string{"other"}
	_, err = bad.TokenSource().Token(ctx)
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Code != "invalid_request" {
		t.Fatalf("refusal: %v", err)
	}
}
