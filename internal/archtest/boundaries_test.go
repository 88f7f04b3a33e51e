package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const (
	modulesPrefix  = "todo/modules/"
	platformPrefix = "todo/platform/"
	schemaPkg      = "todo/ent/schema"
	webPkg         = "todo/web"
	cmdPrefix      = "todo/cmd/"
)

// The reasons a violation prints; each names where the rule is explained.
const (
	whyModules = "modules must not import each other: what tasks needs from auth arrives from cmd/todo " +
		"as a gin.HandlerFunc (auth's RequireUser) and an httpx.Principal on the request context, and " +
		"rules that span modules live in ent/schema (deleting a user cascades to its tasks); " +
		"see STYLE.md \"Modules do not import modules\" and docs/architecture.md"
	whyPlatform = "platform is the layer every module builds on and must not depend on any module: " +
		"the dependency would run backwards and make that module reachable from all the others; " +
		"move what both need into platform, or wire it in cmd/todo; see docs/architecture.md"
	whySchemaReach = "ent/schema is the input of `go generate ./ent/...` and `todo migrate diff`; the generated " +
		"package todo/ent imports it (ent/runtime.go), so anything in todo/ that imports todo/ent " +
		"(platform, modules, the generated client itself) closes an import cycle or makes " +
		"generation depend on its own output; see docs/architecture.md"
	whySchemaDirect = "ent/schema imports only Ent (entgo.io/ent/...), github.com/google/uuid and the " +
		"standard library, so that it stays a plain description of tables; see docs/architecture.md"
	whyWebClient = "web is the browser client: it uses the server only through the public REST contract " +
		"under /api/v1, like any other client, so no module's code may end up in it; see docs/architecture.md"
	whyWebWired = "web is mounted by cmd/todo alone: a module or platform package that imported the browser " +
		"client would tie the server's layers to the page; see docs/architecture.md"
)

// node is one package of the import graph.
type node struct {
	Standard bool
	// Imports are the package's direct imports.
	Imports []string
	// TestImports are the direct imports of its _test.go files, internal and
	// external, which only its own test binary links.
	TestImports []string
}

// graph maps import paths to packages.
type graph map[string]*node

// rule forbids packages matching from to depend on packages matching
// forbidden: through their imports and their tests' imports, and then
// through every import of those, unless direct is set.
type rule struct {
	name      string
	from      func(pkg string) bool
	forbidden func(from, to string, n *node) bool
	direct    bool
	why       string
}

// violation is one package that depends on a package a rule forbids it.
type violation struct {
	rule     *rule
	from, to string
	// chain is the shortest path of imports from from to to.
	chain []string
}

func (v violation) String() string {
	how := "imports"
	if len(v.chain) > 2 {
		how = "depends on"
	}
	return fmt.Sprintf("%s %s %s (%s)\n\trule: %s\n\twhy:  %s",
		v.from, how, v.to, strings.Join(v.chain, " → "), v.rule.name, v.rule.why)
}

// moduleOf returns "auth" for todo/modules/auth/..., "" outside modules.
func moduleOf(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, modulesPrefix)
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

func inSchema(pkg string) bool { return pkg == schemaPkg || strings.HasPrefix(pkg, schemaPkg+"/") }

func inWeb(pkg string) bool { return pkg == webPkg || strings.HasPrefix(pkg, webPkg+"/") }

// rules are the boundaries of docs/architecture.md.
var rules = []*rule{
	{
		name: "modules do not import modules",
		from: func(p string) bool { return moduleOf(p) != "" },
		forbidden: func(from, to string, _ *node) bool {
			return moduleOf(to) != "" && moduleOf(to) != moduleOf(from)
		},
		why: whyModules,
	},
	{
		name:      "platform imports no module",
		from:      func(p string) bool { return strings.HasPrefix(p, platformPrefix) },
		forbidden: func(_, to string, _ *node) bool { return strings.HasPrefix(to, modulesPrefix) },
		why:       whyPlatform,
	},
	{
		name: "ent/schema depends on nothing else in todo/",
		from: inSchema,
		forbidden: func(_, to string, _ *node) bool {
			return strings.HasPrefix(to, "todo/") && !inSchema(to)
		},
		why: whySchemaReach,
	},
	{
		name: "ent/schema imports only Ent, uuid and the standard library",
		from: inSchema,
		forbidden: func(_, to string, n *node) bool {
			allowed := n.Standard || inSchema(to) || to == "entgo.io/ent" ||
				strings.HasPrefix(to, "entgo.io/ent/") || to == "github.com/google/uuid"
			return !allowed
		},
		direct: true,
		why:    whySchemaDirect,
	},
	{
		name:      "web imports no module",
		from:      inWeb,
		forbidden: func(_, to string, _ *node) bool { return strings.HasPrefix(to, modulesPrefix) },
		why:       whyWebClient,
	},
	{
		name: "only cmd/ imports web",
		from: func(p string) bool {
			return strings.HasPrefix(p, "todo/") && !inWeb(p) && !strings.HasPrefix(p, cmdPrefix)
		},
		forbidden: func(_, to string, _ *node) bool { return inWeb(to) },
		why:       whyWebWired,
	},
}

// check returns every violation of rules in g, sorted.
func check(g graph, rules []*rule) []violation {
	var out []violation
	for _, pkg := range sortedKeys(g) {
		for _, r := range rules {
			if r.from(pkg) {
				out = append(out, checkFrom(g, r, pkg)...)
			}
		}
	}
	return out
}

// checkFrom walks breadth first from pkg, so each forbidden package is
// reported once with its shortest chain of imports.
func checkFrom(g graph, r *rule, pkg string) []violation {
	var out []violation
	parent := map[string]string{pkg: ""}
	queue := []string{pkg}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		n := g[cur]
		if n == nil {
			continue
		}
		next := n.Imports
		if cur == pkg {
			// Only the root's tests are linked into the root's test binary.
			next = union(n.Imports, n.TestImports)
		}
		for _, imp := range next {
			if _, seen := parent[imp]; seen || imp == pkg {
				continue
			}
			parent[imp] = cur
			dep := g[imp]
			if dep == nil {
				dep = &node{}
			}
			if r.forbidden(pkg, imp, dep) {
				out = append(out, violation{rule: r, from: pkg, to: imp, chain: chain(parent, imp)})
				continue // one report per forbidden package is enough
			}
			if !r.direct && !dep.Standard {
				queue = append(queue, imp)
			}
		}
	}
	return out
}

func chain(parent map[string]string, to string) []string {
	var c []string
	for p := to; p != ""; p = parent[p] {
		c = append(c, p)
	}
	slices.Reverse(c)
	return c
}

func union(a, b []string) []string {
	u := slices.Concat(a, b)
	slices.Sort(u)
	return slices.Compact(u)
}

func sortedKeys(g graph) []string {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// listed is the part of `go list -json` the graph needs.
type listed struct {
	ImportPath string
	Name       string
	Standard   bool
	ForTest    string
	Imports    []string
}

// parseGoList builds the graph from the JSON stream of `go list -json -deps
// -test`. Test variants ("p [p.test]", "p_test [p.test]") fold into p's
// TestImports; recompiled copies of other packages for a test ("q [p.test]")
// import what q imports, and the generated test mains ("p.test") are not
// packages anyone imports.
func parseGoList(r io.Reader) (graph, error) {
	g := graph{}
	get := func(p string) *node {
		if g[p] == nil {
			g[p] = &node{}
		}
		return g[p]
	}
	dec := json.NewDecoder(r)
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		base, _, _ := strings.Cut(p.ImportPath, " ")
		imports := make([]string, 0, len(p.Imports))
		for _, imp := range p.Imports {
			imp, _, _ = strings.Cut(imp, " ")
			imports = append(imports, imp)
		}
		switch {
		case p.Name == "main" && strings.HasSuffix(base, ".test"):
			// the test main that go test generates
		case p.ForTest == "":
			n := get(base)
			n.Standard = p.Standard
			n.Imports = imports
		case base == p.ForTest || base == p.ForTest+"_test":
			n := get(p.ForTest)
			n.TestImports = union(n.TestImports, slices.DeleteFunc(imports, func(s string) bool { return s == p.ForTest }))
		}
	}
	return g, nil
}

// loadGraph lists every package of the module with its dependencies and the
// imports of its tests.
func loadGraph(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-test", "-json=ImportPath,Name,Standard,ForTest,Imports", "todo/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	g, err := parseGoList(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestBoundaries fails when a package crosses a boundary of
// docs/architecture.md, naming both packages, the chain of imports between
// them and the reason for the rule.
func TestBoundaries(t *testing.T) {
	g := loadGraph(t)
	// A renamed directory must not turn the test into one that checks nothing.
	for _, p := range []string{"todo/modules/auth", "todo/modules/tasks", "todo/platform/httpx", "todo/platform/database", schemaPkg, webPkg} {
		if g[p] == nil {
			t.Fatalf("go list did not report %s; update the rules in this file", p)
		}
	}
	for _, v := range check(g, rules) {
		t.Error(v)
	}
}
