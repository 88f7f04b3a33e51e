package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"

	atlas "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"

	"todo/platform/database"
)

// DownOptions configures Down.
type DownOptions struct {
	ApplyOptions
	// Steps is how many applied files to revert, newest first. Zero means 1.
	Steps int
	// DryRun plans and reports but changes nothing.
	DryRun bool
	// Force reverts even when the plan drops tables or columns that hold data.
	Force bool
	// DevURL is a PostgreSQL server on which Down may create (and drop) a
	// throwaway database to replay the directory into: any database URL of
	// that server. Ignored on SQLite, which replays into memory.
	DevURL string
}

// DownReport is what Down planned and did.
type DownReport struct {
	Reverted   []string // versions of the reverted files, newest first
	Target     string   // the version current afterwards; "" when none is left
	Statements []string // the planned SQL, in order
	Executed   bool     // false on a dry run or a refusal
}

// DataLossError is Down's refusal: the plan drops tables or columns that
// hold data.
type DataLossError struct {
	Tables  []string // tables with rows
	Columns []string // table.column with non-NULL values
}

func (e *DataLossError) Error() string {
	var parts []string
	if len(e.Tables) > 0 {
		parts = append(parts, "tables with rows: "+strings.Join(e.Tables, ", "))
	}
	if len(e.Columns) > 0 {
		parts = append(parts, "columns with values: "+strings.Join(e.Columns, ", "))
	}
	return "migrate down: refused, the plan drops data (" + strings.Join(parts, "; ") + "); nothing changed; use --force to drop it"
}

// Down reverts the last opts.Steps applied migration files of db. It replays
// the files of dir up to the version that becomes current into a throwaway
// dev database (an in-memory SQLite, or a database created on opts.DevURL's
// PostgreSQL server and dropped afterwards), inspects it and the live
// schema, and plans the change live → target with the Atlas driver's
// planner. Unless the plan drops data (DataLossError, unless opts.Force) or
// opts.DryRun is set, it runs the plan in one transaction, together with
// deleting the revisions of the reverted files, the way the Atlas CLI keeps
// its revisions table, so that Status and Apply see them as pending again.
// Down runs under the same lock as Apply.
func Down(ctx context.Context, db *sql.DB, dialectName string, dir fs.FS, opts DownOptions) (rep DownReport, err error) {
	dia, err := normalizeDialect(dialectName)
	if err != nil {
		return DownReport{}, err
	}
	mem, err := loadDir(dir)
	if err != nil {
		return DownReport{}, err
	}
	if opts.Steps == 0 {
		opts.Steps = 1
	}
	if opts.Steps < 0 {
		return DownReport{}, fmt.Errorf("migrate down: %d files: want a positive number", opts.Steps)
	}
	opts.ApplyOptions = opts.withDefaults()
	conn, err := db.Conn(ctx)
	if err != nil {
		return DownReport{}, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	if dia == dialect.Postgres {
		unlock, lerr := lockPostgres(ctx, conn, opts.LockTimeout)
		if lerr != nil {
			return DownReport{}, lerr
		}
		defer func() { err = errors.Join(err, unlock()) }()
	}
	t, err := begin(ctx, conn, dia)
	if err != nil {
		return DownReport{}, err
	}
	committed := false
	defer func() {
		if !committed {
			if rerr := t.Rollback(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("migrate: roll back: %w", rerr))
			}
		}
	}()
	rep, err = planDown(ctx, t, dia, mem, opts)
	if err != nil || opts.DryRun {
		return rep, err
	}
	for _, stmt := range rep.Statements {
		if _, err := t.ExecContext(ctx, stmt); err != nil {
			return rep, fmt.Errorf("migrate down: statement %q failed, nothing changed: %w", stmt, err)
		}
	}
	revs, err := NewRevisionTable(t, dia, opts.RevisionsSchema)
	if err != nil {
		return rep, err
	}
	for _, v := range rep.Reverted {
		if err := revs.DeleteRevision(ctx, v); err != nil {
			return rep, fmt.Errorf("migrate down: %w", err)
		}
	}
	committed = true
	if err := t.Commit(); err != nil {
		return rep, fmt.Errorf("migrate down: commit: %w", err)
	}
	rep.Executed = true
	return rep, nil
}

// planDown works out what Down does, inside its transaction.
func planDown(ctx context.Context, t execQuerier, dia string, dir atlas.Dir, opts DownOptions) (DownReport, error) {
	var rep DownReport
	revs, err := NewRevisionTable(t, dia, opts.RevisionsSchema)
	if err != nil {
		return rep, err
	}
	var applied []*atlas.Revision
	switch ok, err := revs.Exists(ctx); {
	case err != nil:
		return rep, fmt.Errorf("migrate: %w", err)
	case ok:
		if applied, err = revs.ReadRevisions(ctx); err != nil {
			return rep, fmt.Errorf("migrate: %w", err)
		}
	}
	if opts.Steps > len(applied) {
		return rep, fmt.Errorf("migrate down: cannot revert %d files: %d applied", opts.Steps, len(applied))
	}
	keep := applied[:len(applied)-opts.Steps]
	for i := len(applied) - 1; i >= len(keep); i-- {
		if applied[i].Applied != applied[i].Total {
			return rep, fmt.Errorf("migrate down: %s is partially applied (%d of %d statements): finish it with `todo migrate apply` first",
				applied[i].Version, applied[i].Applied, applied[i].Total)
		}
		rep.Reverted = append(rep.Reverted, applied[i].Version)
	}
	if len(keep) > 0 {
		rep.Target = keep[len(keep)-1].Version
	}
	drv, err := openDriver(dia, t)
	if err != nil {
		return rep, err
	}
	live, err := inspectSchema(ctx, drv)
	if err != nil {
		return rep, fmt.Errorf("migrate down: inspect the database: %w", err)
	}
	want, current, err := targetSchema(ctx, dia, dir, keep, applied[len(keep):], opts.DevURL)
	if err != nil {
		return rep, err
	}
	want.Name = live.Name
	changes, err := drv.SchemaDiff(live, want)
	if err != nil {
		return rep, fmt.Errorf("migrate down: diff: %w", err)
	}
	changes = onlyMigrated(changes, live, current)
	if len(changes) > 0 {
		plan, err := drv.PlanChanges(ctx, "down", changes)
		if err != nil {
			return rep, fmt.Errorf("migrate down: plan: %w", err)
		}
		for _, c := range plan.Changes {
			rep.Statements = append(rep.Statements, c.Cmd)
		}
		if dia == dialect.SQLite {
			rep.Statements = KeepSQLiteSequence(rep.Statements)
		}
	}
	if opts.Force {
		return rep, nil
	}
	if dia == dialect.Postgres && !opts.DryRun {
		// Without the lock, a row written between the check and the DROP
		// would be dropped with the table. (SQLite's BEGIN IMMEDIATE already
		// keeps every other writer out.)
		if err := lockDropped(ctx, t, live.Name, changes); err != nil {
			return rep, err
		}
	}
	lost, err := dataLoss(ctx, t, dia, live.Name, changes)
	switch {
	case err != nil:
		return rep, err
	case lost != nil:
		return rep, lost
	}
	return rep, nil
}

// inspectSchema inspects the schema the connection works in (PostgreSQL's
// current_schema(), SQLite's main), without the revisions table.
func inspectSchema(ctx context.Context, drv atlas.Driver) (*schema.Schema, error) {
	s, err := drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return nil, err
	}
	s.Tables = slices.DeleteFunc(s.Tables, func(t *schema.Table) bool { return t.Name == RevisionsTable })
	return s, nil
}

// targetSchema replays the files of dir whose versions are applied in keep
// into a throwaway dev database and inspects the result (want), then
// replays the files of the reverted revisions on top and inspects again
// (current: what the migrations built, without what was added by hand).
func targetSchema(ctx context.Context, dia string, dir atlas.Dir, keep, reverted []*atlas.Revision, devURL string) (want, current *schema.Schema, err error) {
	files, err := dir.Files()
	if err != nil {
		return nil, nil, fmt.Errorf("migrate down: read the migration directory: %w", err)
	}
	pick := func(revs []*atlas.Revision) ([]atlas.File, error) {
		byVersion := map[string]atlas.File{}
		for _, f := range atlas.SkipCheckpointFiles(files) {
			byVersion[f.Version()] = f
		}
		var (
			missing []string
			picked  []atlas.File
		)
		for _, r := range revs {
			if f, ok := byVersion[r.Version]; ok {
				picked = append(picked, f)
			} else {
				missing = append(missing, r.Version)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("migrate down: applied versions %s have no file in this binary's migrations: run the down with the binary that applied them", strings.Join(missing, ", "))
		}
		return picked, nil
	}
	keepFiles, err := pick(keep)
	if err != nil {
		return nil, nil, err
	}
	revertFiles, err := pick(reverted)
	if err != nil {
		return nil, nil, err
	}
	dev, done, err := openDev(ctx, dia, devURL)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	drv, err := openDriver(dia, dev)
	if err != nil {
		return nil, nil, err
	}
	for _, step := range []struct {
		files []atlas.File
		into  **schema.Schema
	}{{keepFiles, &want}, {revertFiles, &current}} {
		if err := replayFiles(ctx, dev, step.files); err != nil {
			return nil, nil, fmt.Errorf("migrate down: %w", err)
		}
		if *step.into, err = inspectSchema(ctx, drv); err != nil {
			return nil, nil, fmt.Errorf("migrate down: inspect the dev database: %w", err)
		}
	}
	return want, current, nil
}

// onlyMigrated leaves out of changes what no migration file built: tables,
// columns, indexes and foreign keys of the live schema that current (the
// directory replayed up to the live version) lacks, such as a table of
// another application or an index added by hand. A column kept this way is
// added to the table the change builds, so that a SQLite rebuild keeps it.
func onlyMigrated(changes []schema.Change, live, current *schema.Schema) []schema.Change {
	out := changes[:0]
	for _, c := range changes {
		switch c := c.(type) {
		case *schema.DropTable:
			if _, ok := current.Table(c.T.Name); !ok {
				continue
			}
		case *schema.ModifyTable:
			cur, ok := current.Table(c.T.Name)
			if !ok {
				continue
			}
			liveT, _ := live.Table(c.T.Name)
			kept := c.Changes[:0]
			for _, mc := range c.Changes {
				switch mc := mc.(type) {
				case *schema.DropColumn:
					if _, ok := cur.Column(mc.C.Name); !ok {
						if liveT != nil {
							if lc, ok := liveT.Column(mc.C.Name); ok {
								c.T.AddColumns(lc)
							}
						}
						continue
					}
				case *schema.DropIndex:
					if _, ok := cur.Index(mc.I.Name); !ok {
						if liveT != nil {
							if li, ok := liveT.Index(mc.I.Name); ok {
								c.T.AddIndexes(li)
							}
						}
						continue
					}
				case *schema.DropForeignKey:
					if _, ok := cur.ForeignKey(mc.F.Symbol); !ok {
						continue
					}
				}
				kept = append(kept, mc)
			}
			if len(kept) == 0 {
				continue
			}
			c.Changes = kept
		}
		out = append(out, c)
	}
	return out
}

// replayFiles runs the statements of files in order.
func replayFiles(ctx context.Context, db execQuerier, files []atlas.File) error {
	for _, f := range files {
		stmts, err := f.Stmts()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name(), err)
		}
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("replay %s: statement %q: %w", f.Name(), s, err)
			}
		}
	}
	return nil
}

// openDev opens an empty dev database: an in-memory SQLite, or a database
// created on devURL's PostgreSQL server. done closes (and drops) it.
func openDev(ctx context.Context, dia, devURL string) (*sql.DB, func(), error) {
	if dia == dialect.SQLite {
		database.RegisterSQLite()
		db, err := sql.Open(database.SQLiteDriver, "file::memory:?_pragma=foreign_keys(1)")
		if err != nil {
			return nil, nil, fmt.Errorf("migrate: open the dev database: %w", err)
		}
		db.SetMaxOpenConns(1) // every connection to :memory: is a database of its own
		return db, func() { _ = db.Close() }, nil
	}
	if devURL == "" {
		return nil, nil, errors.New("migrate: no PostgreSQL server for the dev database (MIGRATE_DEV_URL or DATABASE_URL)")
	}
	u, drop, err := throwawayDatabase(ctx, pqURL(devURL))
	if err != nil {
		return nil, nil, err
	}
	db, err := sql.Open("postgres", u)
	if err != nil {
		drop()
		return nil, nil, fmt.Errorf("migrate: open the dev database: %w", err)
	}
	return db, func() { _ = db.Close(); drop() }, nil
}

// pqURL drops the URL parameters lib/pq rejects (Neon's channel_binding)
// and the search_path: the dev database replays into its public schema.
func pqURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	q := u.Query()
	q.Del("channel_binding")
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}

// dataLoss checks, on the live database, whether the tables and columns the
// changes drop hold data.
func dataLoss(ctx context.Context, db execQuerier, dia, schemaName string, changes []schema.Change) (*DataLossError, error) {
	var lost DataLossError
	qualified := func(t string) string {
		if dia == dialect.SQLite {
			return quote(t)
		}
		return quote(schemaName) + "." + quote(t)
	}
	for _, c := range changes {
		switch c := c.(type) {
		case *schema.DropTable:
			has, err := exists(ctx, db, "SELECT 1 FROM "+qualified(c.T.Name))
			if err != nil {
				return nil, err
			}
			if has {
				lost.Tables = append(lost.Tables, c.T.Name)
			}
		case *schema.ModifyTable:
			for _, mc := range c.Changes {
				d, ok := mc.(*schema.DropColumn)
				if !ok {
					continue
				}
				has, err := exists(ctx, db, "SELECT 1 FROM "+qualified(c.T.Name)+" WHERE "+quote(d.C.Name)+" IS NOT NULL")
				if err != nil {
					return nil, err
				}
				if has {
					lost.Columns = append(lost.Columns, c.T.Name+"."+d.C.Name)
				}
			}
		}
	}
	if len(lost.Tables) == 0 && len(lost.Columns) == 0 {
		return nil, nil
	}
	return &lost, nil
}

func exists(ctx context.Context, db execQuerier, q string) (bool, error) {
	rows, err := db.QueryContext(ctx, q+" LIMIT 1")
	if err != nil {
		return false, fmt.Errorf("migrate down: %s: %w", q, err)
	}
	defer rows.Close()
	has := rows.Next()
	return has, rows.Err()
}

// lockDropped takes the ACCESS EXCLUSIVE lock on the PostgreSQL tables the
// changes drop or drop columns of, for the rest of Down's transaction.
func lockDropped(ctx context.Context, db execQuerier, schemaName string, changes []schema.Change) error {
	for _, c := range changes {
		var name string
		switch c := c.(type) {
		case *schema.DropTable:
			name = c.T.Name
		case *schema.ModifyTable:
			if slices.ContainsFunc(c.Changes, func(mc schema.Change) bool { _, ok := mc.(*schema.DropColumn); return ok }) {
				name = c.T.Name
			}
		}
		if name == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, "LOCK TABLE "+quote(schemaName)+"."+quote(name)+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("migrate down: lock %s: %w", name, err)
		}
	}
	return nil
}
