package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Nonces issues and checks server nonces (RFC 9449 §8, §9) without state:
// a nonce is the HMAC-SHA256, under a key the replicas share, of a purpose
// and a time slot. The current and the previous slot's nonces are
// accepted, so a nonce lives between one and two periods and rotates every
// period; any replica with the key recognises any replica's nonce.
type Nonces struct {
	key     []byte
	purpose string
	period  time.Duration
}

// DefaultNoncePeriod is how often nonces rotate.
const DefaultNoncePeriod = 5 * time.Minute

// minNonceKey is the least key length: a 256-bit HMAC key.
const minNonceKey = 32

// NoncesFromSecret is NewNonces with a key derived from secret, a secret
// the replicas share for other uses too (the device-cookie key): nonces
// of one replica are good at another, and the secret itself never keys
// them.
func NoncesFromSecret(secret []byte, purpose string) (*Nonces, error) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("gatehouse dpop nonce key"))
	return NewNonces(m.Sum(nil), purpose, 0)
}

// NewNonces returns nonces for one purpose (such as "token" or a
// resource's name, so a nonce from one is not accepted by another) under
// key, rotating every period (DefaultNoncePeriod when zero).
func NewNonces(key []byte, purpose string, period time.Duration) (*Nonces, error) {
	if len(key) < minNonceKey {
		return nil, errors.New("dpop: the nonce key must be at least 32 bytes")
	}
	if period == 0 {
		period = DefaultNoncePeriod
	}
	if period < time.Second {
		return nil, errors.New("dpop: the nonce period must be at least a second")
	}
	return &Nonces{key: append([]byte(nil), key...), purpose: purpose, period: period}, nil
}

// Current is the nonce to hand out at now (the DPoP-Nonce header).
func (n *Nonces) Current(now time.Time) string {
	return base64.RawURLEncoding.EncodeToString(n.mac(n.slot(now)))
}

// Check reports whether nonce is the current or the previous slot's, and
// whether it is the current one (when not, the server sends the current in
// DPoP-Nonce so the client moves on before it expires, RFC 9449 §8.2).
func (n *Nonces) Check(nonce string, now time.Time) (ok, current bool) {
	got, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(got) != sha256.Size {
		return false, false
	}
	s := n.slot(now)
	if hmac.Equal(got, n.mac(s)) {
		return true, true
	}
	return hmac.Equal(got, n.mac(s-1)), false
}

func (n *Nonces) slot(now time.Time) int64 { return now.UnixNano() / int64(n.period) }

func (n *Nonces) mac(slot int64) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("dpop-nonce\x00"))
	m.Write([]byte(n.purpose))
	m.Write([]byte{0})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(slot)) //nolint:gosec // G115: the slot's bits, not a quantity
	m.Write(b[:])
	return m.Sum(nil)
}
