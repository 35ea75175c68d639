package authn

import (
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    string // the prefixes, space-separated
		wantErr string
	}{
		{in: []string{"10.1.2.3", " 192.168.7.9/16", "", "::ffff:172.16.0.1", "fd00::/8"}, want: "10.1.2.3/32 192.168.0.0/16 172.16.0.1/32 fd00::/8"},
		{in: []string{"::ffff:10.0.0.0/104"}, want: "10.0.0.0/8"},
		{in: nil, want: ""},
		{in: []string{"proxy.example"}, wantErr: "must be an IP address or a CIDR prefix"},
		{in: []string{"0.0.0.0/0"}, wantErr: "trusts every address"},
		{in: []string{"::/0"}, wantErr: "trusts every address"},
	} {
		got, err := ParseTrustedProxies(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: %v, want an error with %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if err != nil || strings.Join(s, " ") != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.in, s, err, tc.want)
		}
	}
}
