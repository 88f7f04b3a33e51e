package migrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"
)

const (
	// RevisionsTable is the name of the Atlas CLI's revisions table.
	RevisionsTable = "atlas_schema_revisions"
	// DefaultRevisionsSchema is the PostgreSQL schema the Atlas CLI keeps
	// its revisions table in when the URL names no search_path.
	DefaultRevisionsSchema = "atlas_schema_revisions"
	// cloudIdentifier is the CLI's bookkeeping row; it is not a revision.
	cloudIdentifier = ".atlas_cloud_identifier"
	// sqliteSchema is the schema the CLI reports for SQLite's revisions.
	sqliteSchema = "main"
)

// RevisionsSchema returns the PostgreSQL schema that holds the revisions
// table for databaseURL, the Atlas CLI's rule: the URL's search_path if it
// has one, else DefaultRevisionsSchema. A database first migrated through one
// URL form and later through the other makes the CLI stop with "ambiguous
// revision table", so keep one form per database.
func RevisionsSchema(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return DefaultRevisionsSchema
	}
	if s := u.Query().Get("search_path"); s != "" {
		return s
	}
	return DefaultRevisionsSchema
}

// The Atlas CLI's revisions table, column for column: the CLI alters the
// table to this shape on every run, so any difference would be "fixed" by it.
const (
	postgresRevisionsDDL = `CREATE TABLE IF NOT EXISTS %s ("version" character varying NOT NULL, "description" character varying NOT NULL, "type" bigint NOT NULL DEFAULT 2, "applied" bigint NOT NULL DEFAULT 0, "total" bigint NOT NULL DEFAULT 0, "executed_at" timestamptz NOT NULL, "execution_time" bigint NOT NULL, "error" text NULL, "error_stmt" text NULL, "hash" character varying NOT NULL, "partial_hashes" jsonb NULL, "operator_version" character varying NOT NULL, PRIMARY KEY ("version"))`
	sqliteRevisionsDDL   = "CREATE TABLE IF NOT EXISTS %s (`version` text NOT NULL, `description` text NOT NULL, `type` integer NOT NULL DEFAULT (2), `applied` integer NOT NULL DEFAULT (0), `total` integer NOT NULL DEFAULT (0), `executed_at` datetime NOT NULL, `execution_time` integer NOT NULL, `error` text NULL, `error_stmt` text NULL, `hash` text NOT NULL, `partial_hashes` json NULL, `operator_version` text NOT NULL, PRIMARY KEY (`version`))"
	revisionColumns      = `"version", "description", "type", "applied", "total", "executed_at", "execution_time", "error", "error_stmt", "hash", "partial_hashes", "operator_version"`
)

// RevisionTable is a migrate.RevisionReadWriter on the Atlas CLI's own
// revisions table, so that files applied by either are applied for both.
// It works on whatever it is given: bind it to the transaction that runs the
// migration file, and the revision commits or rolls back with the file.
type RevisionTable struct {
	db      schema.ExecQuerier
	dialect string // dialect.Postgres or dialect.SQLite
	schema  string // PostgreSQL schema; "main" on SQLite
}

var _ atlas.RevisionReadWriter = (*RevisionTable)(nil)

// NewRevisionTable returns the revisions table of db. On PostgreSQL it lives
// in schemaName (empty: DefaultRevisionsSchema); on SQLite in main, and
// schemaName is ignored.
func NewRevisionTable(db schema.ExecQuerier, dialectName, schemaName string) (*RevisionTable, error) {
	dia, err := normalizeDialect(dialectName)
	if err != nil {
		return nil, err
	}
	switch {
	case dia == dialect.SQLite:
		schemaName = sqliteSchema
	case schemaName == "":
		schemaName = DefaultRevisionsSchema
	}
	return &RevisionTable{db: db, dialect: dia, schema: schemaName}, nil
}

// Ident names the table, as the Atlas CLI does: Executor uses it to tell the
// revisions table apart from the schema being migrated.
func (r *RevisionTable) Ident() *atlas.TableIdent {
	return &atlas.TableIdent{Name: RevisionsTable, Schema: r.schema}
}

// Exists reports whether the table has been created.
func (r *RevisionTable) Exists(ctx context.Context) (bool, error) {
	var (
		ok  bool
		err error
	)
	if r.dialect == dialect.Postgres {
		err = r.queryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, r.table()).Scan(&ok)
	} else {
		err = r.queryRow(ctx, `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = $1`, RevisionsTable).Scan(&ok)
	}
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", r.table(), err)
	}
	return ok, nil
}

// Init creates the schema (PostgreSQL) and the table unless they exist,
// with the Atlas CLI's exact DDL. Run it under the migration lock: two
// sessions creating the same schema at once collide on PostgreSQL.
func (r *RevisionTable) Init(ctx context.Context) error {
	exists, err := r.Exists(ctx)
	if err != nil || exists {
		return err
	}
	ddl := sqliteRevisionsDDL
	if r.dialect == dialect.Postgres {
		if err := r.createSchema(ctx); err != nil {
			return err
		}
		ddl = postgresRevisionsDDL
	}
	if _, err := r.db.ExecContext(ctx, fmt.Sprintf(ddl, r.table())); err != nil {
		return fmt.Errorf("create %s: %w", r.table(), err)
	}
	return nil
}

// createSchema creates the schema only when missing: CREATE SCHEMA IF NOT
// EXISTS still needs the CREATE privilege on the database.
func (r *RevisionTable) createSchema(ctx context.Context) error {
	var exists bool
	if err := r.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, r.schema).Scan(&exists); err != nil {
		return fmt.Errorf("look up schema %q: %w", r.schema, err)
	}
	if exists {
		return nil
	}
	if _, err := r.db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+quote(r.schema)); err != nil {
		return fmt.Errorf("create schema %q: %w", r.schema, err)
	}
	return nil
}

// ReadRevisions returns every revision ordered by version, without the
// CLI's cloud identifier row.
func (r *RevisionTable) ReadRevisions(ctx context.Context) ([]*atlas.Revision, error) {
	q := fmt.Sprintf(`SELECT %s FROM %s WHERE "version" <> $1 ORDER BY "version"`, revisionColumns, r.table())
	rows, err := r.db.QueryContext(ctx, r.bind(q), cloudIdentifier)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.table(), err)
	}
	defer rows.Close()
	var revs []*atlas.Revision
	for rows.Next() {
		rev, err := scanRevision(rows)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", r.table(), err)
		}
		revs = append(revs, rev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", r.table(), err)
	}
	return revs, nil
}

// ReadRevision returns the revision of version, or migrate.ErrRevisionNotExist.
func (r *RevisionTable) ReadRevision(ctx context.Context, version string) (*atlas.Revision, error) {
	if version == cloudIdentifier {
		return nil, errors.New("the revisions table's identifier row is not a revision")
	}
	q := fmt.Sprintf(`SELECT %s FROM %s WHERE "version" = $1`, revisionColumns, r.table())
	rev, err := scanRevision(r.queryRow(ctx, q, version))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, atlas.ErrRevisionNotExist
	case err != nil:
		return nil, fmt.Errorf("read revision %s: %w", version, err)
	}
	return rev, nil
}

// WriteRevision inserts rev, or updates the row of its version. Like the
// CLI, an update keeps version, description and executed_at, so executed_at
// stays the time the file started.
func (r *RevisionTable) WriteRevision(ctx context.Context, rev *atlas.Revision) error {
	if rev.Version == cloudIdentifier {
		return errors.New("the revisions table's identifier row is not a revision")
	}
	partial, err := json.Marshal(rev.PartialHashes) // nil is JSON null, as the CLI writes it
	if err != nil {
		return fmt.Errorf("encode partial hashes: %w", err)
	}
	q := fmt.Sprintf(`INSERT INTO %s (%s) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT ("version") DO UPDATE SET "type" = excluded."type", "applied" = excluded."applied", "total" = excluded."total",
 "execution_time" = excluded."execution_time", "error" = excluded."error", "error_stmt" = excluded."error_stmt",
 "hash" = excluded."hash", "partial_hashes" = excluded."partial_hashes", "operator_version" = excluded."operator_version"`,
		r.table(), revisionColumns)
	typ := int64(rev.Type) //nolint:gosec // G115: RevisionType is a bit set of 1, 2 and 4, far below MaxInt64
	_, err = r.db.ExecContext(ctx, r.bind(q),
		rev.Version, rev.Description, typ, rev.Applied, rev.Total, rev.ExecutedAt,
		int64(rev.ExecutionTime), rev.Error, rev.ErrorStmt, rev.Hash, string(partial), rev.OperatorVersion)
	if err != nil {
		return fmt.Errorf("write revision %s: %w", rev.Version, err)
	}
	return nil
}

// DeleteRevision deletes the revision of version.
func (r *RevisionTable) DeleteRevision(ctx context.Context, version string) error {
	if version == cloudIdentifier {
		return errors.New("the revisions table's identifier row is not a revision")
	}
	q := fmt.Sprintf(`DELETE FROM %s WHERE "version" = $1`, r.table())
	if _, err := r.db.ExecContext(ctx, r.bind(q), version); err != nil {
		return fmt.Errorf("delete revision %s: %w", version, err)
	}
	return nil
}

// table is the table's qualified, quoted name.
func (r *RevisionTable) table() string {
	if r.dialect == dialect.SQLite {
		return quote(RevisionsTable)
	}
	return quote(r.schema) + "." + quote(RevisionsTable)
}

// bind turns $n placeholders into SQLite's numbered ?n form.
func (r *RevisionTable) bind(q string) string {
	if r.dialect == dialect.SQLite {
		return strings.ReplaceAll(q, "$", "?")
	}
	return q
}

// queryRow is QueryRowContext on a schema.ExecQuerier.
func (r *RevisionTable) queryRow(ctx context.Context, q string, args ...any) rowScanner {
	rows, err := r.db.QueryContext(ctx, r.bind(q), args...) //nolint:rowserrcheck // singleRow.Scan checks rows.Err and closes rows
	return singleRow{rows: rows, err: err}
}

type rowScanner interface{ Scan(dest ...any) error }

// singleRow gives *sql.Rows the behaviour of *sql.Row.
type singleRow struct {
	rows *sql.Rows
	err  error
}

func (s singleRow) Scan(dest ...any) error {
	if s.err != nil {
		return s.err
	}
	defer s.rows.Close()
	if !s.rows.Next() {
		if err := s.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := s.rows.Scan(dest...); err != nil {
		return err
	}
	return s.rows.Close()
}

func scanRevision(row rowScanner) (*atlas.Revision, error) {
	var (
		rev                      atlas.Revision
		typ, applied, total, dur int64
		errText, errStmt         sql.NullString
		partial                  sql.NullString
	)
	err := row.Scan(&rev.Version, &rev.Description, &typ, &applied, &total, &rev.ExecutedAt, &dur,
		&errText, &errStmt, &rev.Hash, &partial, &rev.OperatorVersion)
	if err != nil {
		return nil, err
	}
	if partial.Valid && partial.String != "" {
		if err := json.Unmarshal([]byte(partial.String), &rev.PartialHashes); err != nil {
			return nil, fmt.Errorf("revision %s: decode partial_hashes: %w", rev.Version, err)
		}
	}
	rev.Type = atlas.RevisionType(typ) //nolint:gosec // G115: a bit set the CLI and Apply wrote as 1, 2 or 4, never negative
	rev.Applied, rev.Total = int(applied), int(total)
	rev.ExecutionTime = time.Duration(dur)
	rev.Error, rev.ErrorStmt = errText.String, errStmt.String
	return &rev, nil
}

// quote quotes an SQL identifier; SQLite accepts the standard double quotes.
func quote(ident string) string {
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}

// normalizeDialect accepts Ent's dialect names and the migration
// directories' names ("postgres", "sqlite").
func normalizeDialect(name string) (string, error) {
	switch name {
	case dialect.Postgres, "postgresql":
		return dialect.Postgres, nil
	case dialect.SQLite, "sqlite":
		return dialect.SQLite, nil
	}
	return "", fmt.Errorf("migrate: unsupported dialect %q (want %q or %q)", name, dialect.Postgres, dialect.SQLite)
}
