package config

import (
	"errors"
	"io"
	"testing"
	"time"
)

func TestAuditRetention(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want time.Duration
		bad  bool
	}{
		{"default", nil, 365 * 24 * time.Hour, false},
		{"days", []string{"--audit-retention", "30d"}, 30 * 24 * time.Hour, false},
		{"duration", []string{"--audit-retention", "48h"}, 48 * time.Hour, false},
		{"forever", []string{"--audit-retention", "0"}, 0, false},
		{"negative", []string{"--audit-retention", "-1h"}, 0, true},
		{"bad days", []string{"--audit-retention", "xd"}, 0, true},
		{"nonsense", []string{"--audit-retention", "a year"}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, env(nil), io.Discard)
			if tc.bad {
				var ce *Error
				if !errors.As(err, &ce) || ce.Option != "audit-retention" {
					t.Fatalf("err = %v, want a config error naming audit-retention", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.AuditRetention != tc.want {
				t.Fatalf("AuditRetention = %v, want %v", c.AuditRetention, tc.want)
			}
		})
	}
}
