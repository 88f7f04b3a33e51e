package migrate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	atlas "ariga.io/atlas/sql/migrate"
)

// SQLite keeps the AUTOINCREMENT high-water mark of a table in a row of
// sqlite_sequence. The Atlas planner changes a table SQLite cannot ALTER by
// rebuilding it: CREATE TABLE `new_t`, INSERT INTO `new_t` … SELECT … FROM
// `t`, DROP TABLE `t`, ALTER TABLE `new_t` RENAME TO `t`. The copy leaves
// new_t's mark at the largest id still present and the DROP deletes t's row,
// so the ids of the newest deleted rows would be handed out again.
//
// The statements KeepSQLiteSequence puts right before the CREATE TABLE give
// new_t t's mark first: SQLite's AUTOINCREMENT reads and raises the row of
// its table's name whenever it exists, and the RENAME renames the row with
// the table. Placed there, the rebuild keeps the shape the Atlas linter
// recognises as one table change.

var (
	rebuildCreate = regexp.MustCompile("^CREATE TABLE `new_([^`]+)` .*\\bAUTOINCREMENT\\b")
	rebuildRename = regexp.MustCompile("^ALTER TABLE `new_([^`]+)` RENAME TO `([^`]+)`$")
)

// keepSequenceStmts returns the statements that give new_<table> the
// AUTOINCREMENT mark of table.
func keepSequenceStmts(table string) []string {
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	oldT, newT := lit(table), lit("new_"+table)
	return []string{
		fmt.Sprintf("DELETE FROM sqlite_sequence WHERE name = %s", newT),
		fmt.Sprintf("INSERT INTO sqlite_sequence (name, seq) SELECT %s, seq FROM sqlite_sequence WHERE name = %s", newT, oldT),
	}
}

func trimStmt(s string) string {
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";"))
}

// sequenceRebuilds returns, for each statement index that creates the copy
// of an AUTOINCREMENT table in a rebuild, the table's name, and whether the
// statements before it already keep the table's mark.
func sequenceRebuilds(stmts []string) map[int]rebuild {
	renamed := map[string]bool{}
	for _, s := range stmts {
		if m := rebuildRename.FindStringSubmatch(trimStmt(s)); m != nil && m[1] == m[2] {
			renamed[m[1]] = true
		}
	}
	out := map[int]rebuild{}
	for i, s := range stmts {
		m := rebuildCreate.FindStringSubmatch(trimStmt(s))
		if m == nil || !renamed[m[1]] {
			continue
		}
		keep := keepSequenceStmts(m[1])
		kept := i >= 2 && trimStmt(stmts[i-2]) == keep[0] && trimStmt(stmts[i-1]) == keep[1]
		out[i] = rebuild{table: m[1], kept: kept}
	}
	return out
}

type rebuild struct {
	table string
	kept  bool // the statements of keepSequenceStmts precede the CREATE TABLE
}

// KeepSQLiteSequence returns stmts, a SQLite plan or migration file's
// statements, with the statements that keep the AUTOINCREMENT high-water
// mark put before each rebuild of an AUTOINCREMENT table that lacks them.
func KeepSQLiteSequence(stmts []string) []string {
	at := sequenceRebuilds(stmts)
	out := make([]string, 0, len(stmts)+2*len(at))
	for i, s := range stmts {
		if r, ok := at[i]; ok && !r.kept {
			out = append(out, keepSequenceStmts(r.table)...)
		}
		out = append(out, s)
	}
	return out
}

// KeepSQLiteSequenceInDir rewrites the named files of a SQLite migration
// directory so that their rebuilds of AUTOINCREMENT tables keep the
// high-water mark (see KeepSQLiteSequence), and rehashes atlas.sum. The
// statements go in before the rebuild's comment line, each with a comment of
// its own, in the format the planner writes. It reports the files changed.
func KeepSQLiteSequenceInDir(dir atlas.Dir, names []string) ([]string, error) {
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, f := range files {
		if !slices.Contains(names, f.Name()) {
			continue
		}
		out, ok := keepSequenceInFile(string(f.Bytes()))
		if !ok {
			continue
		}
		if err := dir.WriteFile(f.Name(), []byte(out)); err != nil {
			return changed, err
		}
		changed = append(changed, f.Name())
	}
	if len(changed) == 0 {
		return nil, nil
	}
	sum, err := dir.Checksum()
	if err != nil {
		return changed, err
	}
	return changed, atlas.WriteSumFile(dir, sum)
}

// keepSequenceInFile adds the statements to a file written by the planner
// (one statement a line, each after its comment line).
func keepSequenceInFile(body string) (string, bool) {
	lines := strings.SplitAfter(body, "\n")
	var (
		out   strings.Builder
		stmts []string
		at    = map[int]int{} // line of a statement → its index in stmts
	)
	for i, l := range lines {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
			at[i] = len(stmts)
			stmts = append(stmts, t)
		}
	}
	rebuilds := sequenceRebuilds(stmts)
	todo := map[int]string{} // line before which to insert → table
	for i := range lines {
		si, ok := at[i]
		if !ok {
			continue
		}
		r, ok := rebuilds[si]
		if !ok || r.kept {
			continue
		}
		line := i
		if line > 0 && strings.HasPrefix(strings.TrimSpace(lines[line-1]), "--") {
			line--
		}
		todo[line] = r.table
	}
	if len(todo) == 0 {
		return body, false
	}
	for i, l := range lines {
		if t, ok := todo[i]; ok {
			keep := keepSequenceStmts(t)
			fmt.Fprintf(&out, "-- Keep the AUTOINCREMENT high-water mark of %q across its rebuild\n%s;\n", t, keep[0])
			fmt.Fprintf(&out, "-- (the rebuilt table takes over the sqlite_sequence row of %q)\n%s;\n", t, keep[1])
		}
		out.WriteString(l)
	}
	return out.String(), true
}
