// Package migrate generates, applies and reports the versioned migrations in
// migrations/, in the format the Atlas CLI reads and with the revisions table
// the Atlas CLI writes, through the ariga.io/atlas library.
package migrate
