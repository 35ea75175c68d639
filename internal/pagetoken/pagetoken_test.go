package pagetoken

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 27, 5, 50, 0, 123456789, time.UTC)
	created, id, ok, err := Decode(Encode(at, "c_x|y"))
	if err != nil || !ok || id != "c_x|y" || !created.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("round trip: %v %q %v %v", created, id, ok, err)
	}
	if _, _, ok, err := Decode(""); ok || err != nil {
		t.Fatalf("empty token: %v %v", ok, err)
	}
	for _, bad := range []string{"%%%", base64.RawURLEncoding.EncodeToString([]byte("123")),
		base64.RawURLEncoding.EncodeToString([]byte("x|id")), base64.RawURLEncoding.EncodeToString([]byte("123|"))} {
		if _, _, _, err := Decode(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
