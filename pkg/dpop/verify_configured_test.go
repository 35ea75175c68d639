package dpop

import (
	"testing"
	"time"
)

func TestConfigured(t *testing.T) {
	for _, tc := range []struct {
		name    string
		algs    []string
		window  time.Duration
		wantErr bool
	}{
		{"defaults", nil, 0, false},
		{"named algorithms and a window", []string{"ES256", "PS256"}, 30 * time.Second, false},
		{"a symmetric algorithm", []string{"HS256"}, 0, true},
		{"none", []string{"none"}, 0, true},
		{"a window too wide", nil, time.Hour, true},
	} {
		_, err := NewVerifier(Configured(tc.algs, tc.window)...)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: %v, want error %v", tc.name, err, tc.wantErr)
		}
	}
}
