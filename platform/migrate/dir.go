package migrate

import (
	"errors"
	"fmt"
	"io/fs"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"todo/migrations"
)

// Embedded returns the migration directory compiled into the binary for a
// dialect (dialect.Postgres or dialect.SQLite).
func Embedded(dialectName string) (fs.FS, error) {
	dia, err := normalizeDialect(dialectName)
	if err != nil {
		return nil, err
	}
	name := "postgres"
	if dia == dialect.SQLite {
		name = "sqlite"
	}
	dir, err := migrations.Dir(name)
	if err != nil {
		return nil, fmt.Errorf("embedded migrations %s: %w", name, err)
	}
	return dir, nil
}

// loadDir copies the migration files and atlas.sum of fsys into an Atlas
// in-memory directory and checks that atlas.sum matches the files.
func loadDir(fsys fs.FS) (*atlas.MemDir, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migration files: %w", err)
	}
	if _, err := fs.Stat(fsys, atlas.HashFileName); err == nil {
		names = append(names, atlas.HashFileName)
	}
	dir := &atlas.MemDir{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		if err := dir.WriteFile(name, b); err != nil {
			return nil, fmt.Errorf("load migration %s: %w", name, err)
		}
	}
	if err := validate(dir); err != nil {
		return nil, err
	}
	return dir, nil
}

// validate is migrate.Validate with an error that says what is wrong: the
// library's ChecksumError prints only "checksum mismatch".
func validate(dir atlas.Dir) error {
	err := atlas.Validate(dir)
	var ce *atlas.ChecksumError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return fmt.Errorf("migration directory does not match %s: %s was %s (%s line %d); "+
			"migration files are written only by `todo migrate diff`: %w",
			atlas.HashFileName, ce.File, ce.Reason, atlas.HashFileName, ce.Line, err)
	case errors.Is(err, atlas.ErrChecksumNotFound):
		return fmt.Errorf("migration directory has no %s: %w", atlas.HashFileName, err)
	case errors.Is(err, atlas.ErrChecksumMismatch), errors.Is(err, atlas.ErrChecksumFormat):
		return fmt.Errorf("%s is corrupt (edited by hand?): %w", atlas.HashFileName, err)
	}
	return fmt.Errorf("validate migration directory: %w", err)
}
