// Package ent holds the Ent client generated from the schema in ./schema.
// Run `go generate ./ent/...` after editing the schema; never edit the
// generated files by hand.
package ent

//go:generate go tool ent generate --feature sql/versioned-migration,sql/upsert,sql/modifier,sql/execquery,sql/lock ./schema
