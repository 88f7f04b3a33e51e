// Package migrations embeds the Atlas migration directories so the binary
// can apply them without reading the working directory. The directories are
// written only by `todo migrate diff`; the Atlas CLI reads them as they are.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql postgres/atlas.sum sqlite/*.sql sqlite/atlas.sum
var files embed.FS

// Dir returns the migration directory of a dialect ("postgres" or "sqlite").
func Dir(dialect string) (fs.FS, error) {
	return fs.Sub(files, dialect)
}
