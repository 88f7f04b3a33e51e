package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"golang.org/x/crypto/bcrypt"

	"todo/platform/httpx"
)

// AdoptState is what Adopt found in the database.
type AdoptState string

const (
	// AdoptSeed is a database with the seed's users and tasks (and perhaps
	// Alembic's alembic_version) and nothing else; Adopt converted them.
	AdoptSeed AdoptState = "seed"
	// AdoptEmpty is a database without any table; Adopt only applied the
	// migrations.
	AdoptEmpty AdoptState = "empty"
	// AdoptManaged is a database whose revisions table already has
	// revisions (adopted before, or migrated from the start); Adopt only
	// applied what was pending.
	AdoptManaged AdoptState = "managed"
)

// AdoptReport is what Adopt did.
type AdoptReport struct {
	State    AdoptState
	Users    int64  // rows of users kept (AdoptSeed)
	Tasks    int64  // rows of tasks kept (AdoptSeed)
	NextID   int64  // the next task id handed out (AdoptSeed)
	Baseline string // the version recorded as the baseline (AdoptSeed)
	Alembic  string // the Alembic revision(s) the dropped alembic_version held
	// Unreadable lists the users whose hashed_password bcrypt cannot read
	// (another scheme, or a placeholder): they sign in after a password reset.
	Unreadable []string
	Applied    Report // the files applied after the adoption
}

// ErrNotAdoptable is returned, wrapped with the reasons, for a database that
// is neither empty, nor the seed's schema, nor already migrated.
var ErrNotAdoptable = errors.New("migrate adopt: the database is neither empty nor the seed's schema")

// seedColumn is a column of the seed's CREATE TABLE statements: its type as
// information_schema spells it (any of types), and a length for varchar.
type seedColumn struct {
	types []string
	max   int
}

var (
	timestampTypes = []string{"timestamp without time zone", "timestamp with time zone"}
	seedTables     = map[string]map[string]seedColumn{
		"users": {
			"id":              {types: []string{"character varying"}, max: 36},
			"email":           {types: []string{"character varying"}, max: 255},
			"name":            {types: []string{"character varying"}, max: 100},
			"hashed_password": {types: []string{"character varying"}, max: 255},
			"created_at":      {types: timestampTypes},
			"updated_at":      {types: timestampTypes},
			"is_active":       {types: []string{"boolean"}},
			"email_verified":  {types: []string{"boolean"}},
		},
		"tasks": {
			"id":           {types: []string{"integer", "bigint"}},
			"user_id":      {types: []string{"character varying"}, max: 36},
			"title":        {types: []string{"character varying"}, max: 200},
			"description":  {types: []string{"text"}},
			"completed":    {types: []string{"boolean"}},
			"created_at":   {types: timestampTypes},
			"updated_at":   {types: timestampTypes},
			"completed_at": {types: timestampTypes},
		},
	}
)

// alembicTable is the table Alembic records its revision in.
const alembicTable = "alembic_version"

// Adopt brings a PostgreSQL database made by the seed's SQL (its users and
// tasks tables, perhaps Alembic's alembic_version) under the migrations of
// dir, keeping every row, then applies the files after the first one.
//
// The seed's tables are converted, in one transaction under the migration
// lock, to the schema of dir's first file (the baseline): timestamps become
// timestamptz read as UTC, tasks.id a bigint identity that continues after
// the seed's sequence (no id of a deleted task is handed out again), the
// seed's nullable booleans NOT NULL with their defaults, emails normalised as
// the service stores them, and the constraints and indexes those of the
// baseline file. The revisions table then records the baseline the way
// `atlas migrate apply --baseline VERSION` does, so that Apply and the Atlas
// CLI both continue with the second file. A failure leaves the database as
// it was.
//
// An empty database only gets the migrations applied, and so does one that
// already has revisions: Adopt is safe to run again. Anything else is
// refused with ErrNotAdoptable, naming what differs.
func Adopt(ctx context.Context, db *sql.DB, dialectName string, dir fs.FS, opts ApplyOptions) (rep AdoptReport, err error) {
	dia, err := normalizeDialect(dialectName)
	if err != nil {
		return AdoptReport{}, err
	}
	if dia != dialect.Postgres {
		return AdoptReport{}, errors.New("migrate adopt: only PostgreSQL databases made by the seed's SQL can be adopted; the embedded SQLite database is created by the migrations")
	}
	mem, err := loadDir(dir)
	if err != nil {
		return AdoptReport{}, err
	}
	opts = opts.withDefaults()
	rep, err = adoptLocked(ctx, db, mem, opts)
	if err != nil {
		return rep, err
	}
	rep.Applied, err = Apply(ctx, db, dia, dir, opts)
	return rep, err
}

// adoptLocked classifies the database and converts a seed one, under the
// migration lock and in one transaction.
func adoptLocked(ctx context.Context, db *sql.DB, dir *atlas.MemDir, opts ApplyOptions) (rep AdoptReport, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return rep, fmt.Errorf("migrate adopt: connect: %w", err)
	}
	defer conn.Close()
	unlock, err := lockPostgres(ctx, conn, opts.LockTimeout)
	if err != nil {
		return rep, err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("migrate adopt: begin: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	revs, err := NewRevisionTable(tx, dialect.Postgres, opts.RevisionsSchema)
	if err != nil {
		return rep, err
	}
	managed, err := hasRevisions(ctx, revs)
	if err != nil {
		return rep, err
	}
	if managed {
		rep.State = AdoptManaged
		return rep, tx.Rollback()
	}
	tables, err := userTables(ctx, tx, revs)
	if err != nil {
		return rep, err
	}
	if len(tables) == 0 {
		rep.State = AdoptEmpty
		return rep, tx.Rollback()
	}
	if err := checkSeedShape(ctx, tx, tables); err != nil {
		return rep, err
	}
	rep.State = AdoptSeed
	files, err := dir.Files()
	if err != nil || len(files) == 0 {
		return rep, errors.Join(errors.New("migrate adopt: the migration directory has no files"), err)
	}
	base := files[0]
	if err := convertSeed(ctx, tx, base, &rep); err != nil {
		return rep, err
	}
	if err := revs.Init(ctx); err != nil {
		return rep, err
	}
	// What the Atlas CLI writes for --baseline: no statements, no hash.
	if err := revs.WriteRevision(ctx, &atlas.Revision{
		Version:         base.Version(),
		Description:     base.Desc(),
		Type:            atlas.RevisionTypeBaseline,
		ExecutedAt:      time.Now(),
		OperatorVersion: opts.OperatorVersion,
	}); err != nil {
		return rep, err
	}
	rep.Baseline = base.Version()
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("migrate adopt: commit: %w", err)
	}
	return rep, nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

func hasRevisions(ctx context.Context, revs *RevisionTable) (bool, error) {
	ok, err := revs.Exists(ctx)
	if err != nil || !ok {
		return false, err
	}
	rs, err := revs.ReadRevisions(ctx)
	return len(rs) > 0, err
}

// userTables lists the tables, views and sequences of the current schema
// (the one the migrations create their tables in), leaving out the
// revisions table when it lives there, and the sequences owned by a column
// (SERIAL's), which go with their table.
func userTables(ctx context.Context, tx *sql.Tx, revs *RevisionTable) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT c.relname FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
AND NOT (n.nspname = $1 AND c.relname = $2)
AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0))
ORDER BY c.relname`, revs.schema, RevisionsTable)
	if err != nil {
		return nil, fmt.Errorf("migrate adopt: list tables: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("migrate adopt: list tables: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate adopt: list tables: %w", err)
	}
	return names, nil
}

// checkSeedShape refuses, naming every difference, unless the tables are
// the seed's users and tasks (perhaps with alembic_version), with the
// seed's columns and types.
func checkSeedShape(ctx context.Context, tx *sql.Tx, tables []string) error {
	var diffs []string
	for _, t := range tables {
		if _, ok := seedTables[t]; !ok && t != alembicTable {
			diffs = append(diffs, fmt.Sprintf("table %q is not one of the seed's (users, tasks, %s)", t, alembicTable))
		}
	}
	for _, t := range []string{"users", "tasks"} {
		if !slices.Contains(tables, t) {
			diffs = append(diffs, fmt.Sprintf("table %q is missing", t))
			continue
		}
		got, err := columnsOf(ctx, tx, t)
		if err != nil {
			return err
		}
		want := seedTables[t]
		for _, name := range sortedKeys(want) {
			c, ok := got[name]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s is missing", t, name))
				continue
			}
			w := want[name]
			if !slices.Contains(w.types, c.typ) || (w.max > 0 && c.max != w.max) {
				diffs = append(diffs, fmt.Sprintf("%s.%s is %s, the seed's is %s", t, name, c, w))
			}
		}
		for _, name := range sortedKeys(got) {
			if _, ok := want[name]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s is not a column of the seed's", t, name))
			}
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrNotAdoptable, strings.Join(diffs, "\n  "))
	}
	return nil
}

type liveColumn struct {
	typ string
	max int
}

func (c liveColumn) String() string {
	if c.max > 0 {
		return fmt.Sprintf("%s(%d)", c.typ, c.max)
	}
	return c.typ
}

func (c seedColumn) String() string {
	s := strings.Join(c.types, " or ")
	if c.max > 0 {
		s += fmt.Sprintf("(%d)", c.max)
	}
	return s
}

func columnsOf(ctx context.Context, tx *sql.Tx, table string) (map[string]liveColumn, error) {
	rows, err := tx.QueryContext(ctx, `SELECT column_name, data_type, COALESCE(character_maximum_length, 0)
FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, fmt.Errorf("migrate adopt: read columns of %s: %w", table, err)
	}
	defer rows.Close()
	cols := map[string]liveColumn{}
	for rows.Next() {
		var name string
		var c liveColumn
		if err := rows.Scan(&name, &c.typ, &c.max); err != nil {
			return nil, fmt.Errorf("migrate adopt: read columns of %s: %w", table, err)
		}
		cols[name] = c
	}
	return cols, rows.Err()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// convertSeed turns the seed's users and tasks into those of base, the
// first migration file, and runs base's other statements (its indexes).
func convertSeed(ctx context.Context, tx *sql.Tx, base atlas.File, rep *AdoptReport) error {
	stmts, err := base.Stmts()
	if err != nil {
		return fmt.Errorf("migrate adopt: read %s: %w", base.Name(), err)
	}
	var rest []string
	created := map[string]bool{}
	for _, s := range stmts {
		switch {
		case strings.HasPrefix(s, `CREATE TABLE "users" `):
			created["users"] = true
		case strings.HasPrefix(s, `CREATE TABLE "tasks" `):
			created["tasks"] = true
		default:
			rest = append(rest, s)
		}
	}
	if !created["users"] || !created["tasks"] {
		return fmt.Errorf("migrate adopt: %s does not create users and tasks; it cannot be the baseline", base.Name())
	}
	// Nothing else reads or writes the two tables until the commit: an
	// application still running on them waits, and every row it wrote
	// before is converted.
	if _, err := tx.ExecContext(ctx, `LOCK TABLE "users", "tasks" IN ACCESS EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("migrate adopt: lock users and tasks: %w", err)
	}
	if err := normalizeEmails(ctx, tx); err != nil {
		return err
	}
	if err := adoptAlembic(ctx, tx, rep); err != nil {
		return err
	}
	// Foreign keys, unique constraints and indexes go first: the
	// baseline's are created afterwards, with its names.
	if err := dropConstraintsAndIndexes(ctx, tx); err != nil {
		return err
	}
	next, err := nextTaskID(ctx, tx)
	if err != nil {
		return err
	}
	rep.NextID = next
	idStmts, err := taskIDStatements(ctx, tx, next)
	if err != nil {
		return err
	}
	steps := []string{
		// The seed's booleans are nullable with a default; NULL takes the default.
		`UPDATE "users" SET "is_active" = true WHERE "is_active" IS NULL`,
		`UPDATE "users" SET "email_verified" = false WHERE "email_verified" IS NULL`,
		`UPDATE "tasks" SET "completed" = false WHERE "completed" IS NULL`,
		// The service's invariant: a completed task has completed_at (the
		// completed list is ordered and paged by it), a pending one has none.
		`UPDATE "tasks" SET "completed_at" = "updated_at" WHERE "completed" AND "completed_at" IS NULL`,
		`UPDATE "tasks" SET "completed_at" = NULL WHERE NOT "completed" AND "completed_at" IS NOT NULL`,
	}
	steps = append(steps, idStmts...)
	users, err := alterColumns(ctx, tx, "users")
	if err != nil {
		return err
	}
	tasks, err := alterColumns(ctx, tx, "tasks")
	if err != nil {
		return err
	}
	steps = append(steps, users, tasks,
		`ALTER TABLE "tasks" ADD CONSTRAINT "tasks_users_tasks" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE`)
	steps = append(steps, rest...)
	if err := execAll(ctx, tx, steps); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM "users"), (SELECT count(*) FROM "tasks")`).Scan(&rep.Users, &rep.Tasks); err != nil {
		return fmt.Errorf("migrate adopt: count rows: %w", err)
	}
	hashes, err := queryPairs(ctx, tx, `SELECT "id", "hashed_password" FROM "users" ORDER BY "id"`)
	if err != nil {
		return fmt.Errorf("migrate adopt: read password hashes: %w", err)
	}
	for _, h := range hashes {
		if _, err := bcrypt.Cost([]byte(h[1])); err != nil || len(h[1]) != 60 {
			rep.Unreadable = append(rep.Unreadable, h[0])
		}
	}
	return nil
}

// normalizeEmails stores every email as the service does (trimmed,
// lower-cased, NFC), which its login looks up; two addresses that become
// one are refused, naming both accounts.
func normalizeEmails(ctx context.Context, tx *sql.Tx) error {
	users, err := queryPairs(ctx, tx, `SELECT "id", "email" FROM "users" ORDER BY "id"`)
	if err != nil {
		return fmt.Errorf("migrate adopt: read users: %w", err)
	}
	type change struct{ id, email string }
	var changes []change
	owner := map[string]string{}
	var clashes []string
	for _, u := range users {
		id, email := u[0], u[1]
		n := httpx.NormalizeEmail(email)
		if other, ok := owner[n]; ok {
			clashes = append(clashes, fmt.Sprintf("users %q and %q both have the address %q once normalised", other, id, n))
		}
		owner[n] = id
		if n != email {
			changes = append(changes, change{id, n})
		}
	}
	if len(clashes) > 0 {
		return fmt.Errorf("%w: the service looks emails up trimmed and lower-cased:\n  %s\nmerge or rename these accounts first",
			ErrNotAdoptable, strings.Join(clashes, "\n  "))
	}
	for _, c := range changes {
		// The unique constraint is still there; a temporary clash between
		// an old and a new spelling cannot happen as no two normalise alike.
		if _, err := tx.ExecContext(ctx, `UPDATE "users" SET "email" = $1 WHERE "id" = $2`, c.email, c.id); err != nil {
			return fmt.Errorf("migrate adopt: normalise the email of user %q: %w", c.id, err)
		}
	}
	return nil
}

// adoptAlembic drops alembic_version, if there, reporting the revision it
// held: the migrations own the schema from now on.
func adoptAlembic(ctx context.Context, tx *sql.Tx, rep *AdoptReport) error {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT to_regclass(quote_ident(current_schema()) || '.alembic_version') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("migrate adopt: look up %s: %w", alembicTable, err)
	}
	if !exists {
		return nil
	}
	var held sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT string_agg(CAST("version_num" AS text), ', ') FROM "alembic_version"`).Scan(&held)
	if err != nil {
		return fmt.Errorf("migrate adopt: read %s: %w", alembicTable, err)
	}
	rep.Alembic = held.String
	if _, err := tx.ExecContext(ctx, `DROP TABLE "alembic_version"`); err != nil {
		return fmt.Errorf("migrate adopt: drop %s: %w", alembicTable, err)
	}
	return nil
}

// dropConstraintsAndIndexes drops every constraint of users and tasks but
// their primary keys (renamed to PostgreSQL's default names, which the
// baseline's have), and every index but theirs.
func dropConstraintsAndIndexes(ctx context.Context, tx *sql.Tx) error {
	var stmts []string
	for _, table := range []string{"tasks", "users"} { // tasks first: its foreign key needs users' unique keys
		cons, err := queryPairs(ctx, tx, `SELECT conname, contype FROM pg_constraint
WHERE conrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1)) ORDER BY contype <> 'f', conname`, table)
		if err != nil {
			return fmt.Errorf("migrate adopt: read constraints of %s: %w", table, err)
		}
		for _, c := range cons {
			name, typ := c[0], c[1]
			switch {
			case typ == "p" && name != table+"_pkey":
				stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s RENAME CONSTRAINT %s TO %s`, quote(table), quote(name), quote(table+"_pkey")))
			case typ == "p", typ == "n": // n: a NOT NULL constraint (PostgreSQL 18)
			default:
				stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s`, quote(table), quote(name)))
			}
		}
	}
	if err := execAll(ctx, tx, stmts); err != nil {
		return err
	}
	// Dropping the constraints dropped their indexes; the rest go now.
	idx, err := queryPairs(ctx, tx, `SELECT i.relname, t.relname FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
WHERE t.relname IN ('users', 'tasks') AND NOT x.indisprimary ORDER BY i.relname`)
	if err != nil {
		return fmt.Errorf("migrate adopt: read indexes: %w", err)
	}
	stmts = stmts[:0]
	for _, i := range idx {
		stmts = append(stmts, "DROP INDEX "+quote(i[0]))
	}
	return execAll(ctx, tx, stmts)
}

func execAll(ctx context.Context, tx *sql.Tx, stmts []string) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("migrate adopt: statement %q failed, nothing changed: %w", s, err)
		}
	}
	return nil
}

// queryPairs returns the rows of a query of two text columns.
func queryPairs(ctx context.Context, tx *sql.Tx, q string, args ...any) ([][2]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// nextTaskID is the first id the adopted tasks table hands out: after the
// seed's sequence (which may have passed the ids of deleted tasks) and after
// every id in the table.
func nextTaskID(ctx context.Context, tx *sql.Tx) (int64, error) {
	var next int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(max("id"), 0) + 1 FROM "tasks"`).Scan(&next); err != nil {
		return 0, fmt.Errorf("migrate adopt: read the highest task id: %w", err)
	}
	var seq sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT pg_get_serial_sequence(quote_ident(current_schema()) || '.tasks', 'id')`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("migrate adopt: find the tasks id sequence: %w", err)
	}
	if !seq.Valid {
		return next, nil
	}
	var last int64
	var called bool
	// The name comes from pg_get_serial_sequence, already quoted.
	if err := tx.QueryRowContext(ctx, `SELECT last_value, is_called FROM `+seq.String).Scan(&last, &called); err != nil {
		return 0, fmt.Errorf("migrate adopt: read %s: %w", seq.String, err)
	}
	if called {
		last++
	}
	return max(next, last), nil
}

// taskIDStatements turn tasks.id (SERIAL, or an identity) into the
// baseline's bigint identity starting at next.
func taskIDStatements(ctx context.Context, tx *sql.Tx, next int64) ([]string, error) {
	var identity string
	var seq sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT a.attidentity, pg_get_serial_sequence(quote_ident(current_schema()) || '.tasks', 'id')
FROM pg_attribute a WHERE a.attrelid = to_regclass(quote_ident(current_schema()) || '.tasks') AND a.attname = 'id'`).Scan(&identity, &seq)
	if err != nil {
		return nil, fmt.Errorf("migrate adopt: read tasks.id: %w", err)
	}
	var stmts []string
	if identity != "" {
		stmts = append(stmts, `ALTER TABLE "tasks" ALTER COLUMN "id" DROP IDENTITY`)
	} else {
		stmts = append(stmts, `ALTER TABLE "tasks" ALTER COLUMN "id" DROP DEFAULT`)
		if seq.Valid {
			stmts = append(stmts, "DROP SEQUENCE "+seq.String)
		}
	}
	return append(stmts,
		`ALTER TABLE "tasks" ALTER COLUMN "id" TYPE bigint`,
		// START WITH stays 1, as on a migrated database (Atlas compares it);
		// RESTART moves only the next value.
		`ALTER TABLE "tasks" ALTER COLUMN "id" ADD GENERATED BY DEFAULT AS IDENTITY`,
		fmt.Sprintf(`ALTER TABLE "tasks" ALTER COLUMN "id" RESTART WITH %d`, next),
	), nil
}

// alterColumns is the ALTER TABLE that gives table's columns the baseline's
// types, nullability and defaults. A timestamp without time zone is read as
// UTC, the seed's rule ("all timestamps stored in UTC").
func alterColumns(ctx context.Context, tx *sql.Tx, table string) (string, error) {
	cols, err := columnsOf(ctx, tx, table)
	if err != nil {
		return "", err
	}
	var parts []string
	ts := func(col string, notNull, def bool) {
		if cols[col].typ == "timestamp without time zone" {
			parts = append(parts, fmt.Sprintf(`ALTER COLUMN %[1]s TYPE timestamptz USING %[1]s AT TIME ZONE 'UTC'`, quote(col)))
		}
		if def {
			parts = append(parts, fmt.Sprintf(`ALTER COLUMN %s SET DEFAULT CURRENT_TIMESTAMP`, quote(col)))
		} else {
			parts = append(parts, fmt.Sprintf(`ALTER COLUMN %s DROP DEFAULT`, quote(col)))
		}
		nullability(&parts, col, notNull)
	}
	boolean := func(col string, def bool) {
		parts = append(parts, fmt.Sprintf(`ALTER COLUMN %s SET DEFAULT %t`, quote(col), def))
		nullability(&parts, col, true)
	}
	plain := func(col string, notNull bool) {
		parts = append(parts, fmt.Sprintf(`ALTER COLUMN %s DROP DEFAULT`, quote(col)))
		nullability(&parts, col, notNull)
	}
	ts("created_at", true, true)
	ts("updated_at", true, true)
	switch table {
	case "users":
		plain("id", true)
		plain("email", true)
		plain("name", true)
		plain("hashed_password", true)
		boolean("is_active", true)
		boolean("email_verified", false)
	case "tasks":
		plain("user_id", true)
		plain("title", true)
		plain("description", false)
		boolean("completed", false)
		ts("completed_at", false, false)
	}
	return "ALTER TABLE " + quote(table) + " " + strings.Join(parts, ", "), nil
}

func nullability(parts *[]string, col string, notNull bool) {
	if notNull {
		*parts = append(*parts, fmt.Sprintf(`ALTER COLUMN %s SET NOT NULL`, quote(col)))
	} else {
		*parts = append(*parts, fmt.Sprintf(`ALTER COLUMN %s DROP NOT NULL`, quote(col)))
	}
}
