package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"todo/api"
)

// TestServedDocument holds the document `todo serve` answers at
// /openapi.yaml to the tools client teams run on it: Redocly's and
// Spectral's linters with the rules in api/ (clean, warnings included), and
// oapi-codegen with api/oapi-codegen.yaml, whose Go client must build, type a
// problem's code as a string and its status as an integer, and send
// "description": null.
//
// The linters are the npm packages pinned in api/package.json: run
// `npm ci --prefix api` once (bash .ci/run does). oapi-codegen is the tool of
// tools/go.mod.
func TestServedDocument(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(repo, "api", "node_modules", ".bin")
	for _, tool := range []string{"redocly", "spectral"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Fatalf("%s is not installed (%v): run `npm ci --prefix api` (bash .ci/run does)", tool, err)
		}
	}

	base, _, stop := startServe(t, map[string]string{"DATA_DIR": t.TempDir()})
	code, served := get(t, base+"/openapi.yaml")
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if code != 200 || served != string(api.Spec()) {
		t.Fatalf("GET /openapi.yaml: %d, %d bytes; want 200 and api/openapi.yaml", code, len(served))
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "openapi.yaml")
	writeFile(t, doc, served)
	// The same document with a schema nothing refers to, which both linters
	// must refuse: proof that a finding does fail the run.
	broken := filepath.Join(dir, "broken.yaml")
	writeFile(t, broken, strings.Replace(served, "\n  schemas:\n", "\n  schemas:\n    NeverUsed:\n      type: string\n", 1))

	redocly := func(file string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "redocly"), "lint", "--config", filepath.Join(repo, "api", "redocly.yaml"), file)
		cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
		return cmd
	}
	spectral := func(file string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "spectral"), "lint", "--ruleset", filepath.Join(repo, "api", ".spectral.yaml"),
			"--fail-severity", "warn", file)
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		return cmd
	}
	for name, lint := range map[string]func(string) *exec.Cmd{"redocly": redocly, "spectral": spectral} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if out, err := lint(doc).CombinedOutput(); err != nil {
				t.Errorf("%s finds fault with the served document: %v\n%s", name, err, out)
			}
			out, err := lint(broken).CombinedOutput()
			if err == nil || !bytes.Contains(out, []byte("NeverUsed")) {
				t.Errorf("%s passes a document with an unused schema (err %v):\n%s", name, err, out)
			}
		})
	}

	t.Run("oapi-codegen", func(t *testing.T) {
		t.Parallel()
		checkGeneratedClient(t, repo, doc)
	})
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkGeneratedClient generates the Go client of doc, checks its types and
// builds and runs a program that uses them.
func checkGeneratedClient(t *testing.T, repo, doc string) {
	mod := t.TempDir()
	// With -modfile, this directory is the module root and tools/go.mod (with
	// its go.sum) says which modules the client imports: the go.mod written
	// here only marks the root and is not read.
	writeFile(t, filepath.Join(mod, "go.mod"), "module todo/tools\n")
	if err := os.Mkdir(filepath.Join(mod, "todoclient"), 0o700); err != nil {
		t.Fatal(err)
	}
	client := filepath.Join(mod, "todoclient", "client.go")
	goTool := func(dir string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	modfile := "-modfile=" + filepath.Join(repo, "tools", "go.mod")
	goTool(repo, "tool", modfile, "oapi-codegen", "-config", filepath.Join(repo, "api", "oapi-codegen.yaml"), "-o", client, doc)

	types := structFields(t, client)
	named := namedTypes(t, client)
	// Every problem response's code and status: a string and an integer
	// type, not interface{}.
	problems := 0
	for typ, fields := range types {
		code, status := fields["Code"], fields["Status"]
		if code == nil || status == nil || fields["Title"] == nil {
			continue
		}
		problems++
		if got := underlying(code, named); got != "string" {
			t.Errorf("%s.Code is %s, want a string type", typ, got)
		}
		if got := underlying(status, named); got != "int" {
			t.Errorf("%s.Status is %s, want an integer type", typ, got)
		}
	}
	if problems < 10 {
		t.Errorf("found %d problem types in the generated client, want one per problem response", problems)
	}
	for typ, fields := range types {
		for name, expr := range fields {
			if s := exprString(expr); s == "interface{}" || s == "any" {
				t.Errorf("%s.%s is %s", typ, name, s)
			}
		}
	}
	for _, f := range []struct{ typ, field string }{
		{"UpdateTaskRequest", "Description"}, {"CreateTaskRequest", "Description"},
		{"Task", "Description"}, {"Task", "CompletedAt"}, {"TaskList", "NextCursor"},
	} {
		if got := exprString(types[f.typ][f.field]); !strings.HasPrefix(got, "nullable.Nullable[") {
			t.Errorf("%s.%s is %q, want nullable.Nullable[…]", f.typ, f.field, got)
		}
	}

	// The client builds, sends null, and switches on a problem's code.
	writeFile(t, filepath.Join(mod, "main.go"), `package main

import (
	"encoding/json"
	"fmt"

	"github.com/oapi-codegen/nullable"

	"todo/tools/todoclient"
)

func main() {
	clear := todoclient.UpdateTaskJSONRequestBody{Description: nullable.NewNullNullable[string]()}
	b, err := json.Marshal(clear)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	var p todoclient.NotFound
	if err := json.Unmarshal([]byte(`+"`"+`{"type":"about:blank","title":"Not Found","status":404,"code":"not_found"}`+"`"+`), &p); err != nil {
		panic(err)
	}
	switch p.Code {
	case todoclient.NotFoundCodeNotFound:
		fmt.Println("not_found", int(p.Status))
	}
}
`)
	out := goTool(mod, "run", modfile, ".")
	if got, want := string(out), "{\"description\":null}\nnot_found 404\n"; got != want {
		t.Errorf("the program using the generated client printed %q, want %q", got, want)
	}
}

// structFields returns the fields of every struct type declared in file.
func structFields(t *testing.T, file string) map[string]map[string]ast.Expr {
	t.Helper()
	out := make(map[string]map[string]ast.Expr)
	for _, ts := range typeSpecs(t, file) {
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			continue
		}
		fields := make(map[string]ast.Expr)
		for _, f := range st.Fields.List {
			for _, n := range f.Names {
				fields[n.Name] = f.Type
			}
		}
		out[ts.Name.Name] = fields
	}
	return out
}

// namedTypes returns the type expression of every type declared in file.
func namedTypes(t *testing.T, file string) map[string]ast.Expr {
	t.Helper()
	out := make(map[string]ast.Expr)
	for _, ts := range typeSpecs(t, file) {
		out[ts.Name.Name] = ts.Type
	}
	return out
}

func typeSpecs(t *testing.T, file string) []*ast.TypeSpec {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse the generated client: %v", err)
	}
	var specs []*ast.TypeSpec
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
			for _, s := range g.Specs {
				specs = append(specs, s.(*ast.TypeSpec))
			}
		}
	}
	return specs
}

// underlying follows the file's named types down to a predeclared one.
func underlying(e ast.Expr, named map[string]ast.Expr) string {
	for range 10 {
		id, ok := e.(*ast.Ident)
		if !ok || named[id.Name] == nil {
			break
		}
		e = named[id.Name]
	}
	return exprString(e)
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case nil:
		return "<missing>"
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.IndexExpr:
		return exprString(e.X) + "[" + exprString(e.Index) + "]"
	case *ast.ArrayType:
		return "[]" + exprString(e.Elt)
	case *ast.MapType:
		return "map[" + exprString(e.Key) + "]" + exprString(e.Value)
	case *ast.InterfaceType:
		return "interface{}"
	case *ast.StructType:
		return "struct{…}"
	}
	return "?"
}
