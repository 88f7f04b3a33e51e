package archtest

import (
	"strings"
	"testing"
)

// cleanGraph is the shape of the real tree: modules reach platform and the
// generated client, platform reaches the generated client, the schema
// reaches Ent only.
func cleanGraph() graph {
	return graph{
		"todo/modules/auth": {Imports: []string{"todo/platform/httpx", "todo/ent", "fmt"},
			TestImports: []string{"todo/platform/apitest", "testing"}},
		"todo/modules/tasks": {Imports: []string{"todo/platform/httpx", "todo/ent", "todo/ent/task"},
			TestImports: []string{"todo/platform/database/dbtest"}},
		"todo/platform/httpx":           {Imports: []string{"todo/platform/apperr", "todo/platform/database"}},
		"todo/platform/apperr":          {Imports: []string{"fmt"}},
		"todo/platform/apitest":         {Imports: []string{"testing"}},
		"todo/platform/database":        {Imports: []string{"todo/ent"}},
		"todo/platform/database/dbtest": {Imports: []string{"todo/platform/database"}},
		"todo/ent":                      {Imports: []string{"todo/ent/schema", "todo/ent/task"}},
		"todo/ent/task":                 {},
		"todo/web": {Imports: []string{"github.com/gin-gonic/gin", "embed"},
			TestImports: []string{"todo/platform/apitest", "testing"}},
		"todo/cmd/todo":             {Imports: []string{"todo/web", "todo/modules/auth", "todo/modules/tasks"}},
		"github.com/gin-gonic/gin":  {},
		"embed":                     {Standard: true},
		"todo/ent/schema":           {Imports: []string{"entgo.io/ent", "entgo.io/ent/schema/field", "github.com/google/uuid", "time"}},
		"entgo.io/ent":              {},
		"entgo.io/ent/schema/field": {},
		"github.com/google/uuid":    {},
		"fmt":                       {Standard: true},
		"time":                      {Standard: true},
		"testing":                   {Standard: true},
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(g graph)
		wants []string // one substring per expected violation, in order
	}{
		{
			name: "clean",
			edit: func(graph) {},
		},
		{
			name: "modules/tasks-imports-auth",
			edit: func(g graph) {
				g["todo/modules/tasks"].Imports = append(g["todo/modules/tasks"].Imports, "todo/modules/auth")
			},
			wants: []string{"todo/modules/tasks imports todo/modules/auth (todo/modules/tasks → todo/modules/auth)\n" +
				"\trule: modules do not import modules\n\twhy:  modules must not import each other: " +
				"what tasks needs from auth arrives from cmd/todo as a gin.HandlerFunc"},
		},
		{
			name: "modules/auth-test-imports-tasks",
			edit: func(g graph) {
				g["todo/modules/auth"].TestImports = append(g["todo/modules/auth"].TestImports, "todo/modules/tasks")
			},
			wants: []string{"todo/modules/auth imports todo/modules/tasks (todo/modules/auth → todo/modules/tasks)"},
		},
		{
			name: "modules/subpackage-of-auth-imports-tasks",
			edit: func(g graph) {
				g["todo/modules/auth/internal/x"] = &node{Imports: []string{"todo/modules/tasks"}}
			},
			wants: []string{"todo/modules/auth/internal/x imports todo/modules/tasks"},
		},
		{
			name: "modules/own-subpackage-is-fine",
			edit: func(g graph) {
				g["todo/modules/tasks/internal/x"] = &node{}
				g["todo/modules/tasks"].Imports = append(g["todo/modules/tasks"].Imports, "todo/modules/tasks/internal/x")
			},
		},
		{
			name: "modules/transitive-through-platform",
			edit: func(g graph) {
				g["todo/platform/apperr"].Imports = append(g["todo/platform/apperr"].Imports, "todo/modules/auth")
			},
			wants: []string{
				"todo/modules/tasks depends on todo/modules/auth (todo/modules/tasks → todo/platform/httpx → todo/platform/apperr → todo/modules/auth)\n" +
					"\trule: modules do not import modules",
				"todo/platform/apperr imports todo/modules/auth (todo/platform/apperr → todo/modules/auth)\n\trule: platform imports no module",
				"todo/platform/httpx depends on todo/modules/auth (todo/platform/httpx → todo/platform/apperr → todo/modules/auth)\n" +
					"\trule: platform imports no module",
			},
		},
		{
			name: "modules/a-dependency's-tests-are-not-followed",
			edit: func(g graph) {
				g["todo/platform/apitest"].TestImports = []string{"todo/modules/auth"}
			},
			wants: []string{"todo/platform/apitest imports todo/modules/auth"},
		},
		{
			name: "platform/test-imports-module",
			edit: func(g graph) {
				g["todo/platform/database/dbtest"].TestImports = []string{"todo/modules/tasks"}
			},
			wants: []string{"todo/platform/database/dbtest imports todo/modules/tasks (todo/platform/database/dbtest → todo/modules/tasks)\n" +
				"\trule: platform imports no module\n\twhy:  platform is the layer every module builds on"},
		},
		{
			name: "schema/imports-platform",
			edit: func(g graph) {
				g["todo/ent/schema"].Imports = append(g["todo/ent/schema"].Imports, "todo/platform/apperr")
			},
			wants: []string{
				"todo/ent/schema imports todo/platform/apperr (todo/ent/schema → todo/platform/apperr)\n" +
					"\trule: ent/schema depends on nothing else in todo/\n\twhy:  ent/schema is the input of `go generate ./ent/...`",
				"todo/ent/schema imports todo/platform/apperr (todo/ent/schema → todo/platform/apperr)\n" +
					"\trule: ent/schema imports only Ent, uuid and the standard library",
			},
		},
		{
			name: "schema/imports-generated-client",
			edit: func(g graph) {
				g["todo/ent/schema"].Imports = append(g["todo/ent/schema"].Imports, "todo/ent/task")
			},
			wants: []string{
				"todo/ent/schema imports todo/ent/task (todo/ent/schema → todo/ent/task)\n\trule: ent/schema depends on nothing else in todo/",
				"todo/ent/schema imports todo/ent/task (todo/ent/schema → todo/ent/task)\n\trule: ent/schema imports only Ent",
			},
		},
		{
			name: "web/imports-module",
			edit: func(g graph) {
				g["todo/web"].Imports = append(g["todo/web"].Imports, "todo/modules/auth")
			},
			wants: []string{"todo/web imports todo/modules/auth (todo/web → todo/modules/auth)\n" +
				"\trule: web imports no module\n\twhy:  web is the browser client"},
		},
		{
			name: "web/test-reaches-module-through-platform",
			edit: func(g graph) {
				g["todo/platform/apitest"].Imports = append(g["todo/platform/apitest"].Imports, "todo/modules/tasks")
			},
			wants: []string{
				"todo/modules/auth depends on todo/modules/tasks (todo/modules/auth → todo/platform/apitest → todo/modules/tasks)",
				"todo/platform/apitest imports todo/modules/tasks (todo/platform/apitest → todo/modules/tasks)\n\trule: platform imports no module",
				"todo/web depends on todo/modules/tasks (todo/web → todo/platform/apitest → todo/modules/tasks)\n\trule: web imports no module",
			},
		},
		{
			name: "web/imported-by-module",
			edit: func(g graph) {
				g["todo/modules/tasks"].Imports = append(g["todo/modules/tasks"].Imports, "todo/web")
			},
			wants: []string{"todo/modules/tasks imports todo/web (todo/modules/tasks → todo/web)\n" +
				"\trule: only cmd/ imports web\n\twhy:  web is mounted by cmd/todo alone"},
		},
		{
			name: "web/imported-by-platform-test",
			edit: func(g graph) {
				g["todo/platform/httpx"].TestImports = []string{"todo/web"}
			},
			wants: []string{"todo/platform/httpx imports todo/web (todo/platform/httpx → todo/web)\n\trule: only cmd/ imports web"},
		},
		{
			name: "schema/imports-third-party",
			edit: func(g graph) {
				g["github.com/some/lib"] = &node{}
				g["todo/ent/schema"].Imports = append(g["todo/ent/schema"].Imports, "github.com/some/lib")
			},
			wants: []string{"todo/ent/schema imports github.com/some/lib (todo/ent/schema → github.com/some/lib)\n" +
				"\trule: ent/schema imports only Ent, uuid and the standard library"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := cleanGraph()
			tc.edit(g)
			got := check(g, rules)
			if len(got) != len(tc.wants) {
				t.Fatalf("got %d violations, want %d:\n%s", len(got), len(tc.wants), joinViolations(got))
			}
			for i, want := range tc.wants {
				if s := got[i].String(); !strings.Contains(s, want) {
					t.Errorf("violation %d:\ngot  %s\nwant it to contain %q", i, s, want)
				}
			}
		})
	}
}

func joinViolations(vs []violation) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, "\n")
}

func TestParseGoList(t *testing.T) {
	// Abridged `go list -json -deps -test` output for a package p with
	// internal and external tests, a dependency q recompiled for p's test, and
	// the generated test main.
	const stream = `
{"ImportPath": "fmt", "Name": "fmt", "Standard": true}
{"ImportPath": "todo/q", "Name": "q", "Imports": ["fmt"]}
{"ImportPath": "todo/p", "Name": "p", "Imports": ["todo/q"]}
{"ImportPath": "todo/q [todo/p.test]", "Name": "q", "ForTest": "todo/p", "Imports": ["fmt", "todo/p [todo/p.test]"]}
{"ImportPath": "todo/p [todo/p.test]", "Name": "p", "ForTest": "todo/p", "Imports": ["todo/q [todo/p.test]", "testing"]}
{"ImportPath": "todo/p_test [todo/p.test]", "Name": "p_test", "ForTest": "todo/p", "Imports": ["todo/p [todo/p.test]", "todo/r"]}
{"ImportPath": "todo/p.test", "Name": "main", "Imports": ["todo/p [todo/p.test]", "todo/p_test [todo/p.test]"]}
`
	g, err := parseGoList(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(sortedKeys(g), " "), "fmt todo/p todo/q"; got != want {
		t.Fatalf("packages: got %q, want %q", got, want)
	}
	if !g["fmt"].Standard || g["todo/p"].Standard {
		t.Errorf("Standard: got fmt=%v todo/p=%v, want true, false", g["fmt"].Standard, g["todo/p"].Standard)
	}
	if got, want := strings.Join(g["todo/p"].Imports, " "), "todo/q"; got != want {
		t.Errorf("p.Imports: got %q, want %q", got, want)
	}
	if got, want := strings.Join(g["todo/p"].TestImports, " "), "testing todo/q todo/r"; got != want {
		t.Errorf("p.TestImports: got %q, want %q", got, want)
	}
	if got, want := strings.Join(g["todo/q"].Imports, " "), "fmt"; got != want {
		t.Errorf("q.Imports: got %q, want %q (the recompiled copy must not add p)", got, want)
	}
}
