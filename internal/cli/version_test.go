package cli

import (
	"bytes"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadVersion(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want buildVersion
	}{
		{
			name: "release built from a clean checkout",
			bi: &debug.BuildInfo{
				GoVersion: "go1.26.0",
				Main:      debug.Module{Path: "github.com/gatehouse-dev/gatehouse", Version: "v1.4.0"},
				Settings: []debug.BuildSetting{
					{Key: "vcs.revision", Value: "10c4231abc"},
					{Key: "vcs.time", Value: "2026-12-07T18:00:00Z"},
					{Key: "vcs.modified", Value: "false"},
				},
			},
			ok:   true,
			want: buildVersion{Module: "github.com/gatehouse-dev/gatehouse", Version: "v1.4.0", Revision: "10c4231abc", Time: "2026-12-07T18:00:00Z", GoVersion: "go1.26.0"},
		},
		{
			name: "development build with local changes",
			bi: &debug.BuildInfo{
				GoVersion: "go1.26.0",
				Main:      debug.Module{Path: "github.com/gatehouse-dev/gatehouse", Version: "(devel)"},
				Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}},
			},
			ok:   true,
			want: buildVersion{Module: "github.com/gatehouse-dev/gatehouse", Version: "(devel)", Revision: "abc", Modified: true, GoVersion: "go1.26.0"},
		},
		{
			name: "no build information",
			ok:   false,
			want: buildVersion{Version: "unknown", GoVersion: runtime.Version()},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := readVersion(tc.bi, tc.ok); got != tc.want {
				t.Errorf("readVersion = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/gatehouse-dev/gatehouse", Version: "v1.4.0"},
		Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "10c4231"}, {Key: "vcs.modified", Value: "true"}},
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		wantOut  []string
		wantJSON map[string]any
		wantErr  string
	}{
		{name: "text", code: exitOK, wantOut: []string{"version:", "v1.4.0", "vcs_revision:", "10c4231", "vcs_modified:", "yes", "go_version:", "go1.26.0"}},
		{name: "json", args: []string{"-o", "json"}, code: exitOK, wantJSON: map[string]any{
			"module": "github.com/gatehouse-dev/gatehouse", "version": "v1.4.0", "vcs_revision": "10c4231", "vcs_modified": true, "go_version": "go1.26.0",
		}},
		{name: "help", args: []string{"-h"}, code: exitOK, wantOut: []string{"usage: gatehouse version [-o text|json]"}},
		{name: "bad format", args: []string{"-o", "yaml"}, code: exitFlags, wantErr: "must be text or json"},
		{name: "extra argument", args: []string{"now"}, code: exitError, wantErr: `unexpected argument "now"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := version(tc.args, &out, &errOut, bi, true)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errOut.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tc.wantJSON != nil {
				var got map[string]any
				if err := json.Unmarshal(out.Bytes(), &got); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, out.String())
				}
				for k, v := range tc.wantJSON {
					if got[k] != v {
						t.Errorf("%s = %v, want %v", k, got[k], v)
					}
				}
			}
			if tc.wantErr != "" && !strings.Contains(errOut.String(), tc.wantErr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tc.wantErr)
			}
		})
	}
}

// TestVersionThroughRun checks both spellings reach the command from Run,
// with the test binary's own build information.
func TestVersionThroughRun(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		t.Run(arg, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := Run(t.Context(), []string{arg, "-o", "json"}, strings.NewReader(""), &out, &errOut, nil); code != exitOK {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			var got map[string]any
			if err := json.Unmarshal(out.Bytes(), &got); err != nil || got["go_version"] != runtime.Version() {
				t.Errorf("output %q (%v)", out.String(), err)
			}
		})
	}
}
