// Package apikey defines the format of Gatehouse API keys:
//
//	gth_<key_id>_<secret><checksum>
//
// key_id is public and indexes the stored record; secret carries 256 random
// bits; checksum is the CRC32 (IEEE) of everything before it. The checksum
// lets a validator refuse a mistyped or truncated key without a lookup, and
// the fixed prefix lets secret scanners recognise a leaked key.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
)

const (
	// Prefix starts every key.
	Prefix = "gth_"
	// IDLen is the length of key_id: 16 base62 digits, about 95 bits.
	IDLen = 16
	// SecretLen is the length of the secret: 43 base62 digits hold 256 bits.
	SecretLen = 43
	// ChecksumLen is the length of the checksum: 6 base62 digits hold a CRC32.
	ChecksumLen = 6
	// Len is the length of every key.
	Len = len(Prefix) + IDLen + 1 + SecretLen + ChecksumLen
)

// ErrMalformed is returned by Parse for anything that is not a well-formed
// key with a correct checksum.
var ErrMalformed = errors.New("apikey: malformed key")

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Key is a parsed API key. Secret is sensitive: never log it.
type Key struct {
	ID     string
	Secret string
}

// New returns a key with a fresh random key_id and a 256-bit secret from
// crypto/rand.
func New() (Key, error) {
	id, err := randomBase62(IDLen, 95)
	if err != nil {
		return Key{}, err
	}
	secret, err := randomBase62(SecretLen, 256)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: id, Secret: secret}, nil
}

// String renders the key in its wire format, checksum included.
func (k Key) String() string {
	body := Prefix + k.ID + "_" + k.Secret
	return body + checksum(body)
}

// Parse checks the format and checksum of raw and splits it. It does no
// lookup and takes constant work for every input of the right length.
func Parse(raw string) (Key, error) {
	if len(raw) != Len || !strings.HasPrefix(raw, Prefix) {
		return Key{}, ErrMalformed
	}
	body, sum := raw[:Len-ChecksumLen], raw[Len-ChecksumLen:]
	id := body[len(Prefix) : len(Prefix)+IDLen]
	if body[len(Prefix)+IDLen] != '_' {
		return Key{}, ErrMalformed
	}
	secret := body[len(Prefix)+IDLen+1:]
	if !isBase62(id) || !isBase62(secret) || !isBase62(sum) {
		return Key{}, ErrMalformed
	}
	// The checksum is not secret: it only catches typos and truncation.
	if checksum(body) != sum {
		return Key{}, ErrMalformed
	}
	return Key{ID: id, Secret: secret}, nil
}

// Looks reports whether s has the shape of a key (prefix and length),
// without checking the checksum; used to pick the credential kind.
func Looks(s string) bool {
	return len(s) == Len && strings.HasPrefix(s, Prefix)
}

// HashSecret is what the registry stores and compares: SHA-256 of the
// secret. The secret is high-entropy, so a slow hash would buy nothing.
func HashSecret(secret string) [sha256.Size]byte {
	return sha256.Sum256([]byte(secret))
}

func checksum(body string) string {
	return encodeFixed(uint64(crc32.ChecksumIEEE([]byte(body))), ChecksumLen)
}

func encodeFixed(v uint64, width int) string {
	out := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return string(out)
}

// randomBase62 returns width base62 digits encoding a uniformly random
// number of bits bits (bits must fit in width digits).
func randomBase62(width, bits int) (string, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	if err != nil {
		return "", fmt.Errorf("apikey: read random: %w", err)
	}
	out := make([]byte, width)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = alphabet[mod.Int64()]
	}
	if n.Sign() != 0 {
		return "", errors.New("apikey: width too small for bits")
	}
	return string(out), nil
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}
