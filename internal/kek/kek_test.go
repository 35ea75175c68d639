package kek_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/kek"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, kek.Size)
	_, _ = rand.Read(b)
	return b
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kek-file")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sameKey reports whether a and b are the same key: what one seals, the
// other opens.
func sameKey(t *testing.T, a, b *kek.KEK) bool {
	t.Helper()
	ct, err := a.Seal([]byte("probe"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Open(ct, []byte("aad"))
	return err == nil
}

func TestLoad(t *testing.T) {
	raw := randomKey(t)
	want, err := kek.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	// A raw key that ends in a newline must not be trimmed.
	rawNL := randomKey(t)
	rawNL[kek.Size-1] = '\n'
	wantNL, _ := kek.New(rawNL)

	tests := []struct {
		name    string
		file    []byte // nil: no --kek-file
		env     string
		want    *kek.KEK
		wantErr string
	}{
		{name: "file raw bytes", file: raw, want: want},
		{name: "file raw bytes ending in newline", file: rawNL, want: wantNL},
		{name: "file base64 with newline", file: []byte(base64.StdEncoding.EncodeToString(raw) + "\n"), want: want},
		{name: "file base64url unpadded", file: []byte(base64.RawURLEncoding.EncodeToString(raw)), want: want},
		{name: "file wins over env", file: raw, env: base64.StdEncoding.EncodeToString(randomKey(t)), want: want},
		{name: "env base64", env: base64.StdEncoding.EncodeToString(raw), want: want},
		{name: "env base64 unpadded", env: base64.RawStdEncoding.EncodeToString(raw), want: want},
		{name: "file too short", file: raw[:31], wantErr: "32 raw bytes or base64"},
		{name: "file base64 of 16 bytes", file: []byte(base64.StdEncoding.EncodeToString(raw[:16])), wantErr: "decodes to 16 bytes"},
		{name: "file empty", file: []byte{}, wantErr: "32 raw bytes or base64"},
		{name: "env not base64", env: "not base64 at all!!", wantErr: "GATEHOUSE_KEK: not valid base64"},
		{name: "env 31 bytes", env: base64.StdEncoding.EncodeToString(raw[:31]), wantErr: "GATEHOUSE_KEK: base64 decodes to 31 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var file string
			if tt.file != nil {
				file = writeFile(t, tt.file)
			}
			dataDir := t.TempDir()
			k, created, err := kek.Load(file, tt.env, dataDir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if created || k.IsDefault() {
				t.Errorf("created = %v, IsDefault = %v for a supplied KEK", created, k.IsDefault())
			}
			if !sameKey(t, k, tt.want) {
				t.Error("loaded a different key")
			}
			if _, err := os.Stat(filepath.Join(dataDir, kek.DefaultFileName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("default KEK file created although a KEK was supplied: %v", err)
			}
		})
	}
}

func TestLoadErrorsHideTheKey(t *testing.T) {
	secret := strings.Repeat("A", 40) // valid base64 of 30 bytes
	_, _, err := kek.Load("", secret, "")
	if err == nil {
		t.Fatal("Load accepted 30 bytes")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the value: %v", err)
	}
	_, _, err = kek.Load(writeFile(t, []byte(secret+"!")), "", "")
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("err = %v: want an error without the file's contents", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := kek.Load(filepath.Join(t.TempDir(), "absent"), "", t.TempDir())
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not exist", err)
	}
}

func TestLoadNothing(t *testing.T) {
	if _, _, err := kek.Load("", "", ""); err == nil {
		t.Fatal("Load without any source succeeded")
	}
}

func TestLoadDefaultCreatesThenReuses(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	k1, created, err := kek.Load("", "", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !created || !k1.IsDefault() {
		t.Fatalf("created = %v, IsDefault = %v, want both", created, k1.IsDefault())
	}
	path := filepath.Join(dataDir, kek.DefaultFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != kek.Size {
		t.Errorf("mode %v size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), kek.Size)
	}
	k2, created, err := kek.Load("", "", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if created || !k2.IsDefault() {
		t.Errorf("second Load: created = %v, IsDefault = %v, want false, true", created, k2.IsDefault())
	}
	if !sameKey(t, k1, k2) {
		t.Error("second Load returned another key")
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want only the KEK (temporary files left behind?)", len(entries))
	}
}

// Replicas started together on one data directory must agree on one KEK.
func TestLoadDefaultConcurrent(t *testing.T) {
	dataDir := t.TempDir()
	const n = 20
	keys := make([]*kek.KEK, n)
	createdCount := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, created, err := kek.Load("", "", dataDir)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			keys[i] = k
			if created {
				createdCount++
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if createdCount != 1 {
		t.Errorf("%d loads created the file, want 1", createdCount)
	}
	for i := 1; i < n; i++ {
		if !sameKey(t, keys[0], keys[i]) {
			t.Fatalf("load %d got another key", i)
		}
	}
}

func TestSealOpen(t *testing.T) {
	k, _ := kek.New(randomKey(t))
	other, _ := kek.New(randomKey(t))
	pt := []byte("private key bytes")
	ct, err := k.Seal(pt, []byte("kid-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, pt) {
		t.Fatal("ciphertext contains the plaintext")
	}
	ct2, _ := k.Seal(pt, []byte("kid-1"))
	if bytes.Equal(ct, ct2) {
		t.Error("two seals of the same plaintext are equal: nonce reused")
	}
	got, err := k.Open(ct, []byte("kid-1"))
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %q, %v", got, err)
	}

	flipped := bytes.Clone(ct)
	flipped[len(flipped)-1] ^= 1
	badFormat := bytes.Clone(ct)
	badFormat[0] = 9
	tests := []struct {
		name string
		k    *kek.KEK
		ct   []byte
		aad  string
	}{
		{"other KEK", other, ct, "kid-1"},
		{"other additional data (ciphertext moved to another row)", k, ct, "kid-2"},
		{"flipped bit", k, flipped, "kid-1"},
		{"truncated", k, ct[:10], "kid-1"},
		{"unknown format", k, badFormat, "kid-1"},
		{"empty", k, nil, "kid-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.k.Open(tt.ct, []byte(tt.aad)); !errors.Is(err, kek.ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestNewRejectsWrongSize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := kek.New(make([]byte, n)); err == nil {
			t.Errorf("New accepted %d bytes", n)
		}
	}
}

// Printing or logging a KEK must not reveal the key, whatever the verb.
func TestKEKDoesNotPrintKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xAB}, kek.Size)
	k, _ := kek.New(raw)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "kek", k)
	outs := []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x", k, k, k, k, k),
		fmt.Sprintf("%+v", struct{ K *kek.KEK }{k}), logged.String(),
	}
	for _, out := range outs {
		if strings.Contains(strings.ToLower(out), "abababab") || strings.Contains(out, "\xab\xab") || strings.Contains(out, "171 171") {
			t.Errorf("output shows the key: %q", out)
		}
	}
}
