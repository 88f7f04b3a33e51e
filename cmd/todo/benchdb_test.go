package main

import (
	"testing"

	"todo/platform/database"
	"todo/platform/database/dbtest"
)

func newBenchDB(b *testing.B) (*database.DB, string) {
	return dbtest.NewWithURL(b)
}
