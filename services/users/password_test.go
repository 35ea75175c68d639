package users

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// cheap are parameters fast enough for tests; production uses DefaultParams.
var cheap = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

const pw = "correct horse battery staple"

func TestDefaultParamsAreRFC9106SecondOption(t *testing.T) {
	want := Params{Memory: 65536, Iterations: 3, Parallelism: 4, SaltLength: 16, KeyLength: 32}
	if DefaultParams != want {
		t.Fatalf("DefaultParams = %+v, want %+v", DefaultParams, want)
	}
}

func TestHashDefault(t *testing.T) {
	enc, err := Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Fatalf("Hash = %q, want the RFC 9106 parameters in PHC form", enc)
	}
	parts := strings.Split(enc, "$")
	salt, _ := base64.RawStdEncoding.DecodeString(parts[4])
	key, _ := base64.RawStdEncoding.DecodeString(parts[5])
	if len(salt) != 16 || len(key) != 32 {
		t.Errorf("salt %d bytes, tag %d bytes; want 16 and 32", len(salt), len(key))
	}
	if strings.Contains(enc, pw) {
		t.Error("the encoding contains the password")
	}
	ok, rehash, err := Verify(enc, pw)
	if !ok || rehash || err != nil {
		t.Errorf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

// Argon2id vectors of the reference implementation's test suite
// (phc-winner-argon2 src/test.c), "password" with salt "somesalt".
func TestVerifyKnownAnswers(t *testing.T) {
	for _, enc := range []string{
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	} {
		ok, rehash, err := Verify(enc, "password")
		if !ok || err != nil {
			t.Fatalf("Verify(%s) = %v, %v", enc, ok, err)
		}
		if !rehash {
			t.Errorf("%s: a hash with t=2, p=1 needs a rehash to the defaults", enc)
		}
		if ok, _, _ := Verify(enc, "Password"); ok {
			t.Errorf("%s matched a wrong password", enc)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	a, err := cheap.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cheap.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for _, enc := range []string{a, b} {
		if ok, rehash, err := cheap.Verify(enc, pw); !ok || rehash || err != nil {
			t.Errorf("Verify(%q) = %v, %v, %v; want true, false, nil", enc, ok, rehash, err)
		}
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "correct horse battery staple ", "Correct horse battery staple"} {
		if ok, rehash, err := cheap.Verify(a, wrong); ok || rehash || err != nil {
			t.Errorf("Verify(wrong %q) = %v, %v, %v; want false, false, nil", wrong, ok, rehash, err)
		}
	}
	// Non-ASCII passwords hash their UTF-8 bytes.
	u := "pässwörd-日本語-🔑"
	enc, err := cheap.Hash(u)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := cheap.Verify(enc, u); !ok {
		t.Error("non-ASCII password does not verify")
	}
}

func TestNeedsRehash(t *testing.T) {
	other := cheap
	other.Iterations = 2
	enc, err := cheap.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		target Params
		want   bool
	}{
		{"same params", cheap, false},
		{"more iterations", other, true},
		{"more memory", Params{Memory: 128, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, true},
		{"more lanes", Params{Memory: 64, Iterations: 1, Parallelism: 2, SaltLength: 16, KeyLength: 32}, true},
		{"longer salt", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 32, KeyLength: 32}, true},
		{"longer tag", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 64}, true},
		{"defaults", DefaultParams, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := tc.target.Verify(enc, pw)
			if !ok || err != nil || rehash != tc.want {
				t.Errorf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tc.want)
			}
			// Only a match asks for a rehash.
			if ok, rehash, _ := tc.target.Verify(enc, "wrong password!"); ok || rehash {
				t.Errorf("wrong password: ok %v, needsRehash %v", ok, rehash)
			}
		})
	}
}

func TestDecodeParams(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef0123"))
	key := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef01234567"))
	p, s, k, err := decode("$argon2id$v=19$m=1048576,t=20,p=64$" + salt + "$" + key)
	if err != nil {
		t.Fatal(err)
	}
	want := Params{Memory: 1 << 20, Iterations: 20, Parallelism: 64, SaltLength: 20, KeyLength: 40}
	if p != want || string(s) != "0123456789abcdef0123" || len(k) != 40 {
		t.Errorf("decode = %+v, %q, %d bytes; want %+v", p, s, len(k), want)
	}
}

func TestVerifyRefusesTamperedEncodings(t *testing.T) {
	good, err := cheap.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=64,t=1,p=1, salt, hash
	salt, hash := parts[4], parts[5]
	with := func(alg, version, params, s, h string) string {
		return strings.Join([]string{"", alg, version, params, s, h}, "$")
	}
	b64 := func(n int) string { return base64.RawStdEncoding.EncodeToString(make([]byte, n)) }
	invalid := []struct{ name, enc string }{
		{"empty", ""},
		{"garbage", "not a hash"},
		{"bcrypt", "$2b$12$abcdefghijklmnopqrstuuQ1ZsAMQeHKmYmPhrNZQl6oG3AShdkPC"},
		{"argon2i", with("argon2i", "v=19", parts[3], salt, hash)},
		{"argon2d", with("argon2d", "v=19", parts[3], salt, hash)},
		{"upper-case algorithm", with("ARGON2ID", "v=19", parts[3], salt, hash)},
		{"version 16", with("argon2id", "v=16", parts[3], salt, hash)},
		{"no version", "$argon2id$" + parts[3] + "$" + salt + "$" + hash},
		{"trailing field", good + "$"},
		{"leading text", "x" + good},
		{"memory above 1 GiB", with("argon2id", "v=19", "m=1048577,t=1,p=1", salt, hash)},
		{"memory 4 GiB", with("argon2id", "v=19", "m=4294967295,t=1,p=1", salt, hash)},
		{"memory overflows uint32", with("argon2id", "v=19", "m=4294967296,t=1,p=1", salt, hash)},
		{"memory below 8 KiB per lane", with("argon2id", "v=19", "m=15,t=1,p=2", salt, hash)},
		{"21 iterations", with("argon2id", "v=19", "m=64,t=21,p=1", salt, hash)},
		{"0 iterations", with("argon2id", "v=19", "m=64,t=0,p=1", salt, hash)},
		{"65 lanes", with("argon2id", "v=19", "m=1024,t=1,p=65", salt, hash)},
		{"256 lanes (uint8 wrap)", with("argon2id", "v=19", "m=4096,t=1,p=256", salt, hash)},
		{"0 lanes", with("argon2id", "v=19", "m=64,t=1,p=0", salt, hash)},
		{"params out of order", with("argon2id", "v=19", "t=1,m=64,p=1", salt, hash)},
		{"missing param", with("argon2id", "v=19", "m=64,t=1", salt, hash)},
		{"extra param", with("argon2id", "v=19", "m=64,t=1,p=1,k=1", salt, hash)},
		{"leading zero", with("argon2id", "v=19", "m=064,t=1,p=1", salt, hash)},
		{"plus sign", with("argon2id", "v=19", "m=+64,t=1,p=1", salt, hash)},
		{"negative", with("argon2id", "v=19", "m=-64,t=1,p=1", salt, hash)},
		{"space", with("argon2id", "v=19", "m=64, t=1,p=1", salt, hash)},
		{"padded salt", with("argon2id", "v=19", parts[3], salt+"==", hash)},
		{"url-safe alphabet", with("argon2id", "v=19", parts[3], strings.NewReplacer("+", "-", "/", "_").Replace(salt)+"-_", hash)},
		{"salt not base64", with("argon2id", "v=19", parts[3], "!!!!!!!!!!!!", hash)},
		{"salt too short", with("argon2id", "v=19", parts[3], b64(7), hash)},
		{"salt too long", with("argon2id", "v=19", parts[3], b64(65), hash)},
		{"empty hash", with("argon2id", "v=19", parts[3], salt, "")},
		{"hash too short", with("argon2id", "v=19", parts[3], salt, b64(15))},
		{"hash too long", with("argon2id", "v=19", parts[3], salt, b64(65))},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := cheap.Verify(tc.enc, pw)
			if ok || rehash || !errors.Is(err, ErrInvalidHash) {
				t.Errorf("Verify(%q) = %v, %v, %v; want false, false, ErrInvalidHash", tc.enc, ok, rehash, err)
			}
			if err != nil && strings.Contains(err.Error(), pw) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}

	// Well-formed but altered: no error, no match.
	flip := func(s string) string {
		b, _ := base64.RawStdEncoding.DecodeString(s)
		b[0] ^= 1
		return base64.RawStdEncoding.EncodeToString(b)
	}
	mismatched := []struct{ name, enc string }{
		{"hash bit flipped", with("argon2id", "v=19", parts[3], salt, flip(hash))},
		{"salt bit flipped", with("argon2id", "v=19", parts[3], flip(salt), hash)},
		{"other iterations", with("argon2id", "v=19", "m=64,t=2,p=1", salt, hash)},
		{"other memory", with("argon2id", "v=19", "m=128,t=1,p=1", salt, hash)},
		{"truncated hash", with("argon2id", "v=19", parts[3], salt, base64.RawStdEncoding.EncodeToString(mustDecode(t, hash)[:16]))},
	}
	for _, tc := range mismatched {
		t.Run(tc.name, func(t *testing.T) {
			if ok, rehash, err := cheap.Verify(tc.enc, pw); ok || rehash || err != nil {
				t.Errorf("Verify = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHashRefusesBadParams(t *testing.T) {
	for _, p := range []Params{
		{},
		{Memory: 2 << 20, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 64, Iterations: 21, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 64, Iterations: 1, Parallelism: 65, SaltLength: 16, KeyLength: 32},
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 4, KeyLength: 32},
		{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 8},
	} {
		if enc, err := p.Hash(pw); err == nil {
			t.Errorf("Params%+v.Hash = %q, want an error", p, enc)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"empty", "", false},
		{"11 bytes", strings.Repeat("a", 11), false},
		{"12 bytes", strings.Repeat("a", 12), true},
		{"1024 bytes", strings.Repeat("a", 1024), true},
		{"1025 bytes", strings.Repeat("a", 1025), false},
		{"12 bytes in 4 runes", "日本語語", true},
		{"11 bytes in 5 runes", "ééééé" + "a", false},
		{"invalid UTF-8", "abcdefghijk\xff", false},
		{"spaces count", "            ", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePassword("password", tc.pw)
			if tc.ok != (err == nil) {
				t.Fatalf("ValidatePassword = %v, want ok=%v", err, tc.ok)
			}
			var fe *FieldError
			if err != nil && (!errors.As(err, &fe) || fe.Field != "password") {
				t.Errorf("error %v is not a FieldError for password", err)
			}
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com" // 254 bytes
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"ann@example.com", "ann@example.com"},
		{"  Ann.Smith+tag@Example.COM \n", "ann.smith+tag@example.com"},
		{"ÄNNE@bücher.de", "änne@bücher.de"},
		{long, long},
		{long + "x", ""},
		{"", ""},
		{"   ", ""},
		{"ann", ""},
		{"@example.com", ""},
		{"ann@", ""},
		{"ann@@example.com", ""},
		{"ann@b@example.com", ""},
		{"ann smith@example.com", ""},
		{"ann@exa\tmple.com", ""},
		{"ann\x00@example.com", ""},
		{"ann@example.com\xff", ""},
	}
	for _, tc := range tests {
		got, err := NormalizeEmail("email", tc.in)
		if tc.want == "" {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "email" {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want a FieldError for email", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
