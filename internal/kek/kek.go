package kek

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Size is the length of a KEK in bytes (AES-256).
const Size = 32

// DefaultFileName is the name of the KEK file Load creates in the data
// directory when no KEK is supplied.
const DefaultFileName = "kek"

// EnvVar is the environment variable the caller reads and passes to Load.
const EnvVar = "GATEHOUSE_KEK"

// ErrDecrypt means a ciphertext did not open: it was sealed under another
// KEK, with other additional data, or has been altered. GCM cannot tell
// these apart, and callers should not try.
var ErrDecrypt = errors.New("kek: ciphertext cannot be decrypted with this KEK")

// format is the first byte of every ciphertext, so that a later change of
// scheme (another AEAD, KEK rotation with a key id) can tell old
// ciphertexts apart.
const format byte = 1

const nonceSize = 12

// KEK is a loaded key-encryption key. It keeps only the AES-GCM instance,
// not the raw bytes, and formats as a fixed placeholder, so printing or
// logging it reveals nothing.
type KEK struct {
	aead cipher.AEAD
	// prk is the HKDF pseudorandom key of the KEK, from which Derive
	// expands keys for other purposes: the raw bytes are not kept.
	prk    []byte
	source string
	def    bool
}

// New returns a KEK made of the 32 bytes of raw. raw is not retained.
func New(raw []byte) (*KEK, error) {
	if len(raw) != Size {
		return nil, fmt.Errorf("kek: a KEK is %d bytes, got %d", Size, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("kek: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("kek: %w", err)
	}
	prk, err := hkdf.Extract(sha256.New, raw, []byte("gatehouse kek"))
	if err != nil {
		return nil, fmt.Errorf("kek: %w", err)
	}
	return &KEK{aead: aead, prk: prk, source: "bytes"}, nil
}

// Load returns the KEK from file (when non-empty), else from envValue (the
// value of GATEHOUSE_KEK, when non-empty), else from dataDir/kek, which it
// creates with 32 random bytes and mode 0600 if it does not exist; created
// reports that creation. A file wins over the environment, as flags win
// over environment variables everywhere in Gatehouse.
//
// Errors name the file or variable but never include its contents.
func Load(file, envValue, dataDir string) (k *KEK, created bool, err error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file) // #nosec G304 -- the operator names the KEK file
		if err != nil {
			return nil, false, fmt.Errorf("kek: read --kek-file: %w", err)
		}
		raw, err := decodeFile(b)
		clear(b)
		if err != nil {
			return nil, false, fmt.Errorf("kek: --kek-file %s: %w", file, err)
		}
		k, err := newFrom(raw, "file "+file, false)
		return k, false, err
	case envValue != "":
		raw, err := decodeBase64(envValue)
		if err != nil {
			return nil, false, fmt.Errorf("kek: %s: %w", EnvVar, err)
		}
		k, err := newFrom(raw, "environment "+EnvVar, false)
		return k, false, err
	case dataDir != "":
		path := filepath.Join(dataDir, DefaultFileName)
		created, err := createIfMissing(dataDir, path)
		if err != nil {
			return nil, false, err
		}
		b, err := os.ReadFile(path) // #nosec G304 -- fixed name in the configured data directory
		if err != nil {
			return nil, false, fmt.Errorf("kek: read %s: %w", path, err)
		}
		raw, err := decodeFile(b)
		clear(b)
		if err != nil {
			return nil, false, fmt.Errorf("kek: %s: %w", path, err)
		}
		k, err := newFrom(raw, "default file "+path, true)
		return k, created, err
	default:
		return nil, false, errors.New("kek: no KEK: give --kek-file, " + EnvVar + " or a data directory")
	}
}

func newFrom(raw []byte, source string, def bool) (*KEK, error) {
	defer clear(raw)
	k, err := New(raw)
	if err != nil {
		return nil, err
	}
	k.source, k.def = source, def
	return k, nil
}

// decodeFile accepts exactly 32 raw bytes, or base64 text of 32 bytes with
// surrounding whitespace. Base64 of 32 bytes is 43 or 44 characters, so the
// two forms cannot be confused; raw bytes are never trimmed, since a
// trailing 0x0a may be part of the key.
func decodeFile(b []byte) ([]byte, error) {
	if len(b) == Size {
		return bytes.Clone(b), nil
	}
	raw, err := decodeBase64(string(b))
	if err != nil {
		return nil, fmt.Errorf("must hold %d raw bytes or base64 text of %d bytes: %w", Size, Size, err)
	}
	return raw, nil
}

// decodeBase64 accepts standard or URL-safe base64, padded or not, since
// operators produce the value with whatever tool is at hand
// (openssl rand -base64 32, head -c32 /dev/urandom | basenc --base64url).
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		raw, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(raw) != Size {
			clear(raw)
			return nil, fmt.Errorf("base64 decodes to %d bytes, want %d", len(raw), Size)
		}
		return raw, nil
	}
	// The decoder's error would quote an offset into the secret; say less.
	return nil, errors.New("not valid base64")
}

// createIfMissing writes 32 random bytes to path unless it exists. The key
// is written to a temporary file and linked into place, so two processes
// starting together on one data directory never read a half-written KEK:
// the link either creates the complete file or fails because the other
// process's file is already there.
func createIfMissing(dataDir, path string) (bool, error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("kek: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return false, fmt.Errorf("kek: create data directory: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, ".kek-*")
	if err != nil {
		return false, fmt.Errorf("kek: create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after a successful link anyway
	raw := make([]byte, Size)
	defer clear(raw)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails
	// CreateTemp already uses 0600; Chmod states it regardless of umask.
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return false, fmt.Errorf("kek: create %s: %w", path, err)
	}
	if _, err := tmp.Write(raw); err != nil {
		_ = tmp.Close()
		return false, fmt.Errorf("kek: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return false, fmt.Errorf("kek: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("kek: write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil // another process won; use its key
		}
		return false, fmt.Errorf("kek: create %s: %w", path, err)
	}
	return true, nil
}

// Seal encrypts plaintext and binds it to aad, which Open must be given
// again. The result is a format byte, the nonce and the GCM ciphertext.
func (k *KEK) Seal(plaintext, aad []byte) ([]byte, error) {
	if k == nil || k.aead == nil {
		return nil, errors.New("kek: nil KEK")
	}
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+k.aead.Overhead())
	out[0] = format
	// Random nonces are safe here: a KEK seals a handful of keys a month,
	// far below the 2^32 messages GCM allows per key with random nonces.
	_, _ = rand.Read(out[1 : 1+nonceSize])
	return k.aead.Seal(out, out[1:1+nonceSize], plaintext, aad), nil
}

// Open decrypts a ciphertext from Seal; any failure wraps ErrDecrypt.
func (k *KEK) Open(ciphertext, aad []byte) ([]byte, error) {
	if k == nil || k.aead == nil {
		return nil, errors.New("kek: nil KEK")
	}
	if len(ciphertext) < 1+nonceSize+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrDecrypt)
	}
	if ciphertext[0] != format {
		return nil, fmt.Errorf("%w: unknown format %d", ErrDecrypt, ciphertext[0])
	}
	pt, err := k.aead.Open(nil, ciphertext[1:1+nonceSize], ciphertext[1+nonceSize:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Derive returns 32 bytes that depend only on the KEK and label (HKDF,
// RFC 5869): a key for another purpose (the login page's device cookies),
// so one secret to manage serves it too. A label must be used for one
// purpose only.
func (k *KEK) Derive(label string) []byte {
	out, err := hkdf.Expand(sha256.New, k.prk, label, 32)
	if err != nil {
		panic("kek: HKDF-Expand of 32 bytes cannot fail: " + err.Error())
	}
	return out
}

// IsDefault reports whether the KEK is the one Load keeps in the data
// directory, which production should replace with its own.
func (k *KEK) IsDefault() bool { return k.def }

// Source says where the KEK came from ("file /etc/gatehouse/kek",
// "environment GATEHOUSE_KEK", "default file /var/lib/gatehouse/kek"), for
// start-up logs. It never contains key material.
func (k *KEK) Source() string { return k.source }

// String hides the key.
func (k *KEK) String() string { return "kek.KEK(" + k.source + ")" }

// GoString hides the key from %#v.
func (k *KEK) GoString() string { return k.String() }

// Format hides the key from every fmt verb, including %+v, which would
// otherwise print the AES key schedule inside the AEAD.
func (k *KEK) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue hides the key from slog.
func (k *KEK) LogValue() slog.Value { return slog.StringValue(k.String()) }
