package database_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// TestQueryDirect: DB.Query on PostgreSQL (pgx, no database/sql) returns
// rows that hand their connection back when closed (however often), and
// waits for a connection no longer than DB_ACQUIRE_TIMEOUT, as the
// database/sql path does: ErrPoolTimeout, which the API answers 503.
func TestQueryDirect(t *testing.T) {
	cfg := dbtest.Config(dbtest.NewEmpty(t))
	cfg.MaxConns, cfg.AcquireTimeout = 1, 300*time.Millisecond
	db := dbtest.Open(t, cfg)
	if db.Pool == nil {
		t.Fatal("no pgx pool on PostgreSQL")
	}
	ctx := context.Background()
	for i := range 3 { // one connection in all: each Close must return it
		rows, err := db.Query(ctx, `SELECT $1::int + 1`, i)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if !rows.Next() || rows.Scan(&got) != nil || got != i+1 {
			t.Fatalf("row %d: %d, %v", i, got, rows.Err())
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if err := rows.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	if n := db.Pool.Stat().AcquiredConns(); n != 0 {
		t.Fatalf("%d connections still acquired after the rows were closed", n)
	}

	held, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = db.Query(ctx, `SELECT 1`)
	if !errors.Is(err, database.ErrPoolTimeout) {
		t.Fatalf("with the only connection held: %v, want ErrPoolTimeout", err)
	}
	if waited := time.Since(began); waited < cfg.AcquireTimeout {
		t.Errorf("gave up after %s, before DB_ACQUIRE_TIMEOUT %s", waited, cfg.AcquireTimeout)
	}
	if _, err := db.SQL.QueryContext(ctx, `SELECT 1`); !errors.Is(err, database.ErrPoolTimeout) {
		t.Fatalf("database/sql with the only connection held: %v, want ErrPoolTimeout", err)
	}
	// A caller's own deadline is its own, not the pool's.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := db.Query(short, `SELECT 1`); err == nil || errors.Is(err, database.ErrPoolTimeout) {
		t.Fatalf("the caller's deadline: %v, want its own error", err)
	}
	held.Release()

	// A failing statement reports through the rows, and still hands back
	// its connection.
	rows, err := db.Query(ctx, `SELECT 1/0`)
	if err == nil {
		for rows.Next() {
		}
		err = rows.Close()
	}
	if err == nil {
		t.Fatal("division by zero reported no error")
	}
	if n := db.Pool.Stat().AcquiredConns(); n != 0 {
		t.Fatalf("%d connections still acquired after a failed statement", n)
	}
}

// TestQueryCancelMidScan: a caller whose context ends mid-scan, or who
// stops reading early, gets its connection back to the pool on Close, and
// the pool's one connection serves the next statement.
func TestQueryCancelMidScan(t *testing.T) {
	cfg := dbtest.Config(dbtest.NewEmpty(t))
	cfg.MaxConns, cfg.AcquireTimeout = 1, 500*time.Millisecond
	db := dbtest.Open(t, cfg)
	for _, cancelIt := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		rows, err := db.Query(ctx, `SELECT g, pg_sleep(CASE WHEN g = 2 THEN 0.2 ELSE 0 END) FROM generate_series(1, 100000) AS g`)
		if err != nil {
			t.Fatal(err)
		}
		if !rows.Next() {
			t.Fatal(rows.Err())
		}
		if cancelIt {
			cancel()
			for rows.Next() {
			}
			if rows.Err() == nil {
				t.Error("no error after the context ended mid-scan")
			}
		}
		_ = rows.Close()
		cancel()
		began := time.Now()
		for db.Pool.Stat().AcquiredConns() != 0 {
			if time.Since(began) > 2*time.Second {
				t.Fatalf("cancel %v: a connection still acquired after %s", cancelIt, time.Since(began))
			}
			time.Sleep(time.Millisecond)
		}
		t.Logf("cancel %v: connection back after %s", cancelIt, time.Since(began))
		r2, err := db.Query(context.Background(), `SELECT 1`)
		if err != nil {
			t.Fatalf("cancel %v: next statement: %v", cancelIt, err)
		}
		var one int
		if !r2.Next() || r2.Scan(&one) != nil || one != 1 {
			t.Fatalf("cancel %v: next statement read %d, %v", cancelIt, one, r2.Err())
		}
		_ = r2.Close()
	}
}
