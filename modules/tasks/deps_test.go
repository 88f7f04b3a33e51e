package tasks

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoModuleImports keeps modules independent: tasks must not depend on auth.
func TestNoModuleImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "todo/modules/") && dep != "todo/modules/tasks" {
			t.Fatalf("tasks depends on %s", dep)
		}
	}
}
