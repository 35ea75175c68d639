package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password policy, in bytes.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

// Bounds on the parameters of a hash, whether made here or read from the
// store: a tampered or corrupted hash must not make one verification use
// gigabytes of memory or minutes of CPU.
const (
	maxMemoryKiB   = 1 << 20 // 1 GiB
	maxIterations  = 20
	maxParallelism = 64
	minSaltLen     = 8
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 64
)

// ErrInvalidHash is returned, wrapped, by Verify for an encoded hash that is
// not a well-formed argon2id hash within the accepted parameter bounds.
var ErrInvalidHash = errors.New("invalid password hash")

// Params are the argon2id parameters of a password hash.
type Params struct {
	// Memory is the memory cost in KiB (m).
	Memory uint32
	// Iterations is the number of passes over the memory (t).
	Iterations uint32
	// Parallelism is the number of lanes (p).
	Parallelism uint8
	// SaltLength is the length of the random salt in bytes.
	SaltLength uint32
	// KeyLength is the length of the tag in bytes.
	KeyLength uint32
}

// DefaultParams is the second recommended option of RFC 9106 §4: 64 MiB of
// memory, 3 iterations, 4 lanes, a 16-byte salt and a 32-byte tag.
var DefaultParams = Params{Memory: 64 * 1024, Iterations: 3, Parallelism: 4, SaltLength: 16, KeyLength: 32}

func (p Params) check() error {
	switch {
	case p.Memory > maxMemoryKiB:
		return fmt.Errorf("memory %d KiB is above %d KiB", p.Memory, maxMemoryKiB)
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("iterations %d, want 1 to %d", p.Iterations, maxIterations)
	case p.Parallelism < 1 || p.Parallelism > maxParallelism:
		return fmt.Errorf("parallelism %d, want 1 to %d", p.Parallelism, maxParallelism)
	case p.Memory < 8*uint32(p.Parallelism):
		// RFC 9106 §3.1: m is at least 8*p.
		return fmt.Errorf("memory %d KiB is below 8 KiB per lane", p.Memory)
	case p.SaltLength < minSaltLen || p.SaltLength > maxSaltLen:
		return fmt.Errorf("salt length %d, want %d to %d bytes", p.SaltLength, minSaltLen, maxSaltLen)
	case p.KeyLength < minKeyLen || p.KeyLength > maxKeyLen:
		return fmt.Errorf("key length %d, want %d to %d bytes", p.KeyLength, minKeyLen, maxKeyLen)
	}
	return nil
}

// Hash hashes password with DefaultParams and a new random salt.
func Hash(password string) (string, error) { return DefaultParams.Hash(password) }

// Verify checks password against an encoded hash, with DefaultParams as the
// parameters hashes should have; see Params.Verify.
func Verify(encoded, password string) (ok, needsRehash bool, err error) {
	return DefaultParams.Verify(encoded, password)
}

// Hash hashes password with p and a new random salt, and returns the PHC
// string: $argon2id$v=19$m=<memory>,t=<iterations>,p=<parallelism>$<salt>$<hash>,
// salt and hash in unpadded standard base64. It does not apply the password
// policy (see ValidatePassword).
func (p Params) Hash(password string) (string, error) {
	if err := p.check(); err != nil {
		return "", fmt.Errorf("users: hash password: %w", err)
	}
	salt := make([]byte, p.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("users: hash password: read random: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	return encode(p, salt, key), nil
}

// Verify checks password against encoded, a hash made by Hash, in constant
// time. needsRehash is true when the password matched but the hash was made
// with parameters other than p: the caller should store a new hash. An
// encoding that does not parse, is not argon2id version 19, or has
// parameters out of bounds (more than 1 GiB of memory, more than 20
// iterations, more than 64 lanes...) is an error wrapping ErrInvalidHash,
// never a match.
func (p Params) Verify(encoded, password string) (ok, needsRehash bool, err error) {
	got, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, fmt.Errorf("users: verify password: %w", err)
	}
	sum := argon2.IDKey([]byte(password), salt, got.Iterations, got.Memory, got.Parallelism, got.KeyLength)
	if subtle.ConstantTimeCompare(sum, key) != 1 {
		return false, false, nil
	}
	return true, got != p, nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses an encoded hash strictly: one canonical spelling per hash,
// so a hash cannot be altered without failing to parse or to match.
func decode(encoded string) (Params, []byte, []byte, error) {
	bad := func(format string, args ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrInvalidHash, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("not of the form $argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm %q, want argon2id", parts[1])
	}
	if v, ok := strings.CutPrefix(parts[2], "v="); !ok || v != strconv.Itoa(argon2.Version) {
		return bad("version %q, want v=%d", parts[2], argon2.Version)
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return bad("parameters %q, want m=..,t=..,p=..", parts[3])
	}
	var vals [3]uint32
	for i, name := range []string{"m", "t", "p"} {
		s, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return bad("parameters %q, want m=..,t=..,p=..", parts[3])
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != s {
			return bad("parameter %s=%q is not a decimal number", name, s)
		}
		vals[i] = uint32(n) //nolint:gosec // ParseUint with bitSize 32 bounds n
	}
	if vals[2] > maxParallelism {
		return bad("parallelism %d, want 1 to %d", vals[2], maxParallelism)
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return bad("salt is not unpadded base64")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return bad("hash is not unpadded base64")
	}
	p := Params{
		Memory:      vals[0],
		Iterations:  vals[1],
		Parallelism: uint8(vals[2]),    //nolint:gosec // at most maxParallelism, checked above
		SaltLength:  uint32(len(salt)), //nolint:gosec // bounded by the length of the encoding
		KeyLength:   uint32(len(key)),  //nolint:gosec // bounded by the length of the encoding
	}
	if err := p.check(); err != nil {
		return bad("%v", err)
	}
	return p, salt, key, nil
}

// ValidatePassword applies the password policy: 12 to 1024 bytes of valid
// UTF-8. It returns a *FieldError for field.
func ValidatePassword(field, password string) error {
	switch {
	case len(password) < MinPasswordLen || len(password) > MaxPasswordLen:
		return fieldErr(field, "must be %d to %d bytes long", MinPasswordLen, MaxPasswordLen)
	case !utf8.ValidString(password):
		return fieldErr(field, "must be valid UTF-8")
	}
	return nil
}
