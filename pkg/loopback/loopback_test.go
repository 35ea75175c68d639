package loopback

import "testing"

func TestHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost", true},
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"[::1]", true},
		{"::ffff:127.0.0.1", true},
		{"", false},
		{"localhost.example.com", false},
		{"10.0.0.1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"[::1", false},
		{"127.0.0.1.nip.io", false},
	} {
		if got := Host(tc.host); got != tc.want {
			t.Errorf("Host(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestHostPort(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:9090", true},
		{"[::1]:9090", true},
		{"localhost:1", true},
		{"0.0.0.0:9090", false},
		{":9090", false},
		{"127.0.0.1", false},
		{"auth.example.com:443", false},
	} {
		if got := HostPort(tc.addr); got != tc.want {
			t.Errorf("HostPort(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}
