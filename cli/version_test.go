package cli

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"
)

func TestWriteVersion(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-compiler", Value: "gc"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tt := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{
			name: "checkout",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: modulePath, Version: "(devel)"}, Settings: vcs},
			want: "zocket (devel)\n" +
				"module    github.com/zocket-go/zocket\n" +
				"revision  0123456789abcdef0123456789abcdef01234567 (modified)\n" +
				"time      2026-01-02T03:04:05Z\n" +
				"go        go1.26.8\n",
		},
		{
			name: "installed at a tag",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: modulePath, Version: "v1.2.3"}},
			want: "zocket v1.2.3\nmodule    github.com/zocket-go/zocket\ngo        go1.26.8\n",
		},
		{
			name: "empty main version",
			bi:   &debug.BuildInfo{Main: debug.Module{Path: modulePath}},
			want: "zocket (devel)\nmodule    github.com/zocket-go/zocket\n",
		},
		{
			name: "an app that depends on zocket",
			bi: &debug.BuildInfo{
				GoVersion: "go1.26.8",
				Main:      debug.Module{Path: "example.com/myapp", Version: "v0.4.0"},
				Deps: []*debug.Module{
					{Path: "github.com/coder/websocket", Version: "v1.8.14"},
					{Path: modulePath, Version: "v1.2.3"},
				},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}},
			},
			want: "zocket v0.4.0\nmodule    example.com/myapp\nzocket    v1.2.3\nrevision  abc\ngo        go1.26.8\n",
		},
		{
			name: "an app with zocket replaced",
			bi: &debug.BuildInfo{
				Main: debug.Module{Path: "example.com/myapp", Version: "(devel)"},
				Deps: []*debug.Module{{Path: modulePath, Version: "v1.2.3", Replace: &debug.Module{Path: "../zocket"}}},
			},
			want: "zocket (devel)\nmodule    example.com/myapp\nzocket    v1.2.3 => ../zocket\n",
		},
		{
			name: "no build information",
			want: "zocket (unknown: built without module information)\n",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeVersion(&b, "zocket", tt.bi)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// TestVersionCommand: "version", "-version" and "--version" print the
// report of this (test) binary, whose build information names the module.
func TestVersionCommand(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("test binary has no build information")
	}
	var want bytes.Buffer
	writeVersion(&want, "myapp", bi)
	for _, args := range [][]string{{"version"}, {"-version"}, {"--version"}} {
		var out, errOut bytes.Buffer
		err := Run(context.Background(), nil, args, Env{Name: "myapp", Stdout: &out, Stderr: &errOut}, nil)
		if err != nil {
			t.Fatalf("%q: %v (stderr %q)", args, err, errOut.String())
		}
		if out.String() != want.String() {
			t.Errorf("%q printed\n%s\nwant\n%s", args, out.String(), want.String())
		}
		if !strings.HasPrefix(out.String(), "myapp ") || !strings.Contains(out.String(), "\nmodule    "+modulePath+"\n") {
			t.Errorf("%q printed %q, want the name and the module path", args, out.String())
		}
	}
	var errOut bytes.Buffer
	if err := Run(context.Background(), nil, []string{"version", "extra"}, Env{Stderr: &errOut}, nil); err == nil {
		t.Error("version with an argument: no error")
	}
}
