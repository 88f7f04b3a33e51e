package migrate

import (
	"fmt"
	"regexp"
	"strings"
)

// SQLite keeps the AUTOINCREMENT high-water mark of a table in a row of
// sqlite_sequence. The Atlas planner changes a table SQLite cannot ALTER by
// rebuilding it: CREATE TABLE `new_t`, INSERT INTO `new_t` … SELECT … FROM
// `t`, DROP TABLE `t`, ALTER TABLE `new_t` RENAME TO `t`. The copy leaves
// new_t's mark at the largest id still present and the DROP deletes t's row,
// so the ids of the newest deleted rows would be handed out again. The
// statements below, placed right after the copy, carry t's mark over to
// new_t; the RENAME then carries it to t.

var (
	rebuildCreate = regexp.MustCompile("^CREATE TABLE `new_([^`]+)` .*\\bAUTOINCREMENT\\b")
	rebuildCopy   = regexp.MustCompile("^INSERT INTO `new_([^`]+)` .* FROM `([^`]+)`$")
)

// sequenceMarker starts the first statement KeepSQLiteSequence adds; a
// directory already carrying it is left alone.
const sequenceMarker = "UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = "

// keepSequenceStmts returns the statements that carry table's
// AUTOINCREMENT mark to its rebuilt copy new_<table>.
func keepSequenceStmts(table string) []string {
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	oldT, newT := lit(table), lit("new_"+table)
	return []string{
		fmt.Sprintf("%s%s), 0)) WHERE name = %s", sequenceMarker, oldT, newT),
		fmt.Sprintf("INSERT INTO sqlite_sequence (name, seq) SELECT %s, seq FROM sqlite_sequence WHERE name = %s AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = %s)", newT, oldT, newT),
	}
}

// rebuiltWithSequence returns, for each statement index that copies rows
// into the rebuilt copy of an AUTOINCREMENT table, the table's name; the
// copies already followed by the fix are left out.
func rebuiltWithSequence(stmts []string) map[int]string {
	auto := map[string]bool{}
	out := map[int]string{}
	for i, s := range stmts {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";"))
		if m := rebuildCreate.FindStringSubmatch(s); m != nil {
			auto[m[1]] = true
			continue
		}
		m := rebuildCopy.FindStringSubmatch(s)
		if m == nil || m[1] != m[2] || !auto[m[1]] {
			continue
		}
		if i+1 < len(stmts) && strings.HasPrefix(strings.TrimSpace(stmts[i+1]), sequenceMarker) {
			continue
		}
		out[i] = m[1]
	}
	return out
}

// KeepSQLiteSequence returns stmts, a SQLite plan or migration file's
// statements, with the statements that keep the AUTOINCREMENT high-water
// mark added after each rebuild's copy of an AUTOINCREMENT table.
func KeepSQLiteSequence(stmts []string) []string {
	at := rebuiltWithSequence(stmts)
	if len(at) == 0 {
		return stmts
	}
	out := make([]string, 0, len(stmts)+2*len(at))
	for i, s := range stmts {
		out = append(out, s)
		if t, ok := at[i]; ok {
			out = append(out, keepSequenceStmts(t)...)
		}
	}
	return out
}
