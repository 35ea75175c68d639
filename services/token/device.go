package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// Device cookies (OWASP's "device cookies" against online guessing): a
// successful sign-in leaves the browser a cookie, HMAC-signed for the
// account it signed in to. That browser keeps signing in to that account
// while strangers spend the account's failure budget from elsewhere; its
// own failures are counted apart (failures.go), so a copied cookie still
// gets only a few guesses.
const (
	deviceCookieLifetime = 90 * 24 * time.Hour
	deviceNonceBytes     = 16
	deviceMACBytes       = 16
)

// deviceMAC signs nonce for the account, with the issue time.
func (s *Service) deviceMAC(email, nonce, issued string) []byte {
	m := hmac.New(sha256.New, s.cfg.DeviceKey)
	m.Write([]byte("gatehouse device cookie\x00"))
	m.Write([]byte(email))
	m.Write([]byte{0})
	m.Write([]byte(nonce))
	m.Write([]byte{0})
	m.Write([]byte(issued))
	return m.Sum(nil)[:deviceMACBytes]
}

// setDeviceCookie gives the browser the account's device cookie.
func (s *Service) setDeviceCookie(w http.ResponseWriter, email string, now time.Time) {
	var b [deviceNonceBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return // no cookie: the browser is treated as any other
	}
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	issued := now.UTC().Format("20060102")
	value := nonce + "." + issued + "." + base64.RawURLEncoding.EncodeToString(s.deviceMAC(email, nonce, issued))
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure whenever the issuer is https; only a plain-http loopback issuer (development) goes without
		Name: s.cookieName("device"), Value: value, Path: "/",
		Expires: now.Add(deviceCookieLifetime), HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode,
	})
}

// deviceCookieFor returns the id (nonce) of the request's device cookie
// when it is one this service signed for email and still young enough, and
// "" otherwise.
func (s *Service) deviceCookieFor(r *http.Request, email string) string {
	c, err := r.Cookie(s.cookieName("device"))
	if err != nil || len(c.Value) > 128 {
		return ""
	}
	nonce, rest, ok := strings.Cut(c.Value, ".")
	issued, mac64, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return ""
	}
	mac, err := base64.RawURLEncoding.DecodeString(mac64)
	if err != nil || !hmac.Equal(mac, s.deviceMAC(email, nonce, issued)) {
		return ""
	}
	t, err := time.Parse("20060102", issued)
	if err != nil || s.cfg.Now().Sub(t) > deviceCookieLifetime+24*time.Hour {
		return ""
	}
	return nonce
}
