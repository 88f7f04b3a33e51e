package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	atlas "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	_ "ariga.io/atlas/sql/postgres/postgrescheck" // registers the PostgreSQL analyzers
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlcheck"
	"ariga.io/atlas/sql/sqlclient"
	"ariga.io/atlas/sql/sqlite"
	_ "ariga.io/atlas/sql/sqlite/sqlitecheck" // registers the SQLite analyzers
	"entgo.io/ent/dialect"
)

// Codes of the checks Lint adds to the Atlas analyzers'.
const (
	// CodeIndexLocks: a plain CREATE INDEX on a PostgreSQL table that existed
	// before the file blocks writes to it while the index builds.
	CodeIndexLocks = "PG101"
	// CodeConcurrentInTx: CREATE INDEX CONCURRENTLY in a file that runs in a
	// transaction, where PostgreSQL refuses it.
	CodeConcurrentInTx = "PG102"
	// CodeSequenceReset: a SQLite rebuild of an AUTOINCREMENT table that does
	// not carry its sqlite_sequence high-water mark over.
	CodeSequenceReset = "SQ101"
)

// LintOptions configures Lint.
type LintOptions struct {
	// Latest lints the newest Latest files. Zero means 1. Ignored when
	// Files is set.
	Latest int
	// Files names the files to lint (base names); the files before the
	// first of them are replayed as the state they start from.
	Files []string
	// DevURL is the PostgreSQL server where Lint creates (and drops) a
	// throwaway database to replay into. Ignored on SQLite.
	DevURL string
}

// Finding is one problem Lint found.
type Finding struct {
	File string // 20261129160759_task_change_feed.sql
	Line int    // line of the statement in the file
	Stmt string // the statement
	Code string // DS102, MF101, PG101, …
	Text string // why it is a problem
	// BadIgnore is set when the statement has a lint:ignore comment for
	// this code without a reason: it silences nothing.
	BadIgnore bool
}

// String is the finding on one line: file:line: CODE why: statement.
func (f Finding) String() string {
	stmt := strings.Join(strings.Fields(f.Stmt), " ")
	if len(stmt) > 120 {
		stmt = stmt[:117] + "..."
	}
	s := fmt.Sprintf("%s:%d: %s %s: %s", f.File, f.Line, f.Code, f.Text, stmt)
	if f.BadIgnore {
		s += " (its lint:ignore " + f.Code + " has no reason, so it does not count)"
	}
	return s
}

// Lint runs the Atlas analyzers (destructive, backward-incompatible,
// data-dependent and constraint-drop changes) and Lint's own checks over
// the newest files of dir (or opts.Files), the way the Atlas CLI's
// `migrate lint` does: it replays the files before them into an empty dev
// database, then runs each linted file statement by statement, inspecting
// the schema after each to learn what the statement changed. A statement
// with the comment `-- lint:ignore CODE reason` gets no finding of CODE; a
// lint:ignore without a reason silences nothing.
func Lint(ctx context.Context, dialectName string, dir fs.FS, opts LintOptions) ([]Finding, error) {
	dia, err := normalizeDialect(dialectName)
	if err != nil {
		return nil, err
	}
	mem, err := loadDir(dir)
	if err != nil {
		return nil, err
	}
	all, err := mem.Files()
	if err != nil {
		return nil, fmt.Errorf("migrate lint: %w", err)
	}
	files := atlas.SkipCheckpointFiles(all)
	lint, err := lintSet(files, opts)
	if err != nil {
		return nil, err
	}
	dev, done, err := openDev(ctx, dia, opts.DevURL)
	if err != nil {
		return nil, err
	}
	defer done()
	drv, err := openDriver(dia, dev)
	if err != nil {
		return nil, err
	}
	analyzers, err := sqlcheck.AnalyzerFor(driverName(dia), nil)
	if err != nil {
		return nil, fmt.Errorf("migrate lint: %w", err)
	}
	var findings []Finding
	for _, f := range files {
		if !lint[f.Name()] {
			if err := replayFiles(ctx, dev, []atlas.File{f}); err != nil {
				return nil, fmt.Errorf("migrate lint: %w", err)
			}
			continue
		}
		got, err := lintFile(ctx, dia, dev, drv, analyzers, f)
		if err != nil {
			return nil, fmt.Errorf("migrate lint: %s: %w", f.Name(), err)
		}
		findings = append(findings, got...)
	}
	return findings, nil
}

// lintSet returns the names of the files to lint.
func lintSet(files []atlas.File, opts LintOptions) (map[string]bool, error) {
	set := map[string]bool{}
	if len(opts.Files) > 0 {
		for _, name := range opts.Files {
			if !slices.ContainsFunc(files, func(f atlas.File) bool { return f.Name() == name }) {
				return nil, fmt.Errorf("migrate lint: no migration file %q in the directory", name)
			}
			set[name] = true
		}
		return set, nil
	}
	n := opts.Latest
	if n == 0 {
		n = 1
	}
	if n < 0 {
		return nil, fmt.Errorf("migrate lint: --latest %d: want a positive number", n)
	}
	for _, f := range files[max(0, len(files)-n):] {
		set[f.Name()] = true
	}
	return set, nil
}

func driverName(dia string) string {
	if dia == dialect.SQLite {
		return sqlite.DriverName
	}
	return postgres.DriverName
}

// lintFile runs f's statements on dev one by one and analyzes the changes.
func lintFile(ctx context.Context, dia string, dev *sql.DB, drv atlas.Driver, analyzers []sqlcheck.Analyzer, f atlas.File) ([]Finding, error) {
	stmts, err := f.StmtDecls()
	if err != nil {
		return nil, err
	}
	before, err := inspectSchema(ctx, drv)
	if err != nil {
		return nil, fmt.Errorf("inspect the dev database: %w", err)
	}
	file := &sqlcheck.File{File: f, From: schema.NewRealm(before)}
	prev := before
	for _, s := range stmts {
		if _, err := dev.ExecContext(ctx, s.Text); err != nil {
			return nil, fmt.Errorf("statement %q fails on an empty database migrated to the file before: %w", s.Text, err)
		}
		cur, err := inspectSchema(ctx, drv)
		if err != nil {
			return nil, fmt.Errorf("inspect the dev database: %w", err)
		}
		changes, err := drv.SchemaDiff(prev, cur)
		if err != nil {
			return nil, fmt.Errorf("diff after %q: %w", s.Text, err)
		}
		file.Changes = append(file.Changes, &sqlcheck.Change{Stmt: s, Changes: changes})
		prev = cur
	}
	file.To = schema.NewRealm(prev)
	if file.Sum, err = drv.SchemaDiff(before, prev); err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	// Our checks read the statements as written; the SQLite analyzers
	// replace a rebuild's four statements by one change.
	own := ownChecks(dia, f, file)
	var diags []sqlcheck.Diagnostic
	pass := &sqlcheck.Pass{
		File:     file,
		Dev:      &sqlclient.Client{Name: driverName(dia), DB: dev, Driver: drv},
		Reporter: sqlcheck.ReportWriterFunc(func(r sqlcheck.Report) { diags = append(diags, r.Diagnostics...) }),
	}
	for _, a := range analyzers {
		// An analyzer returns an error when it reports with error severity;
		// the findings are in diags either way.
		if err := a.Analyze(ctx, pass); err != nil && !strings.HasSuffix(err.Error(), "changes detected") {
			return nil, err
		}
	}
	diags = append(diags, own...)
	return findings(f, stmts, diags), nil
}

var createIndex = regexp.MustCompile(`(?is)^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?`)

// ownChecks are the checks the Atlas analyzers lack: PostgreSQL index
// builds that lock a table, and SQLite rebuilds that lose sqlite_sequence.
func ownChecks(dia string, f atlas.File, file *sqlcheck.File) []sqlcheck.Diagnostic {
	var diags []sqlcheck.Diagnostic
	if dia == dialect.SQLite {
		texts := make([]string, len(file.Changes))
		for i, c := range file.Changes {
			texts[i] = c.Stmt.Text
		}
		for i, r := range sequenceRebuilds(texts) {
			if !r.kept {
				diags = append(diags, sqlcheck.Diagnostic{
					Code: CodeSequenceReset,
					Pos:  file.Changes[i].Stmt.Pos,
					Text: fmt.Sprintf("Rebuilding AUTOINCREMENT table %q without carrying its sqlite_sequence high-water mark over hands the ids of deleted rows out again (`todo migrate diff` writes the statements that keep it)", r.table),
				})
			}
		}
		return diags
	}
	noTx := txModeNone(f)
	for _, c := range file.Changes {
		m := createIndex.FindStringSubmatch(c.Stmt.Text)
		if m == nil {
			continue
		}
		concurrent := m[2] != ""
		if concurrent && !noTx {
			diags = append(diags, sqlcheck.Diagnostic{
				Code: CodeConcurrentInTx,
				Pos:  c.Stmt.Pos,
				Text: "CREATE INDEX CONCURRENTLY cannot run inside a transaction: start the file with the directive `-- atlas:txmode none` and a blank line",
			})
		}
		if concurrent {
			continue
		}
		for _, ch := range c.Changes {
			mt, ok := ch.(*schema.ModifyTable)
			if !ok || file.TableSpan(mt.T)&sqlcheck.SpanAdded != 0 {
				continue
			}
			for _, tc := range mt.Changes {
				if ai, ok := tc.(*schema.AddIndex); ok {
					diags = append(diags, sqlcheck.Diagnostic{
						Code: CodeIndexLocks,
						Pos:  c.Stmt.Pos,
						Text: fmt.Sprintf("Creating index %q on existing table %q blocks writes to the table while the index builds: use CREATE INDEX CONCURRENTLY in a file of its own with `-- atlas:txmode none`", ai.I.Name, mt.T.Name),
					})
				}
			}
		}
	}
	return diags
}

// lintIgnore is `-- lint:ignore CODE[,CODE…] reason`.
var lintIgnore = regexp.MustCompile(`^--\s*lint:ignore\s+([A-Za-z0-9_,]+)[ \t]*(.*)$`)

// findings turns diagnostics into findings, less those a lint:ignore
// comment with a reason silences (one finding per comment and code).
func findings(f atlas.File, stmts []*atlas.Stmt, diags []sqlcheck.Diagnostic) []Finding {
	type key struct {
		pos  int
		code string
	}
	ignores := map[key]int{} // silencing comments left
	unreasoned := map[key]bool{}
	for _, s := range stmts {
		for _, c := range s.Comments {
			m := lintIgnore.FindStringSubmatch(strings.TrimSpace(c))
			if m == nil {
				continue
			}
			reason := strings.TrimSpace(m[2])
			for _, code := range strings.Split(m[1], ",") {
				k := key{s.Pos, strings.ToUpper(strings.TrimSpace(code))}
				if reason == "" {
					unreasoned[k] = true
				} else {
					ignores[k]++
				}
			}
		}
	}
	body := string(f.Bytes())
	var out []Finding
	for _, d := range diags {
		k := key{d.Pos, d.Code}
		if ignores[k] > 0 {
			ignores[k]--
			continue
		}
		fd := Finding{File: f.Name(), Code: d.Code, Text: d.Text, BadIgnore: unreasoned[k]}
		if i := slices.IndexFunc(stmts, func(s *atlas.Stmt) bool { return s.Pos == d.Pos }); i >= 0 {
			fd.Stmt = stmts[i].Text
		}
		if d.Pos >= 0 && d.Pos <= len(body) {
			fd.Line = strings.Count(body[:d.Pos], "\n") + 1
		}
		out = append(out, fd)
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return a.Line - b.Line })
	return out
}

// Rehash rewrites the atlas.sum of the migration directory at path from its
// files, as `atlas migrate hash` does. Committed files are never edited: it
// is for a file not yet committed that gained a lint:ignore comment.
func Rehash(path string) error {
	dir, err := atlas.NewLocalDir(path)
	if err != nil {
		return fmt.Errorf("migrate hash: %w", err)
	}
	sum, err := dir.Checksum()
	if err != nil {
		return fmt.Errorf("migrate hash: %s: %w", path, err)
	}
	if err := atlas.WriteSumFile(dir, sum); err != nil {
		return fmt.Errorf("migrate hash: %s: %w", path, err)
	}
	return nil
}
