package gateway_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The gateway runs no actor code: it must not depend on the root package or
// on the other hosts.
func TestImports(t *testing.T) {
	t.Parallel()
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(gotool, "list", "-deps", "github.com/zocket-go/zocket/gateway").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := map[string]bool{
		"github.com/zocket-go/zocket":            true,
		"github.com/zocket-go/zocket/standalone": true,
		"github.com/zocket-go/zocket/runtime":    true,
		"github.com/zocket-go/zocket/client":     true,
		"github.com/zocket-go/zocket/cli":        true,
		"github.com/zocket-go/zocket/natsembed":  true,
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if forbidden[dep] {
			t.Errorf("gateway depends on %s", dep)
		}
	}
}
