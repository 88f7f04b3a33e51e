package auth

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"todo/platform/apitest"
	"todo/platform/database/dbtest"
)

// TestReplayedSpentTokenNotifiesOnce: presenting a spent refresh token
// revokes its session and announces it to every instance. Presenting it
// again, once the session is already revoked, changed nothing in the
// database but still sent a notification (and logged a reuse): anyone
// holding one spent token of their own, with no rate limit on the refresh
// endpoint, could make every instance empty entries from its session cache
// and refuse to cache concurrent checks as fast as they could post it. Only
// a revocation that revoked something is announced.
func TestReplayedSpentTokenNotifiesOnce(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	e := newEnv(t, db)
	s := e.server(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+revokedChannel); err != nil {
		t.Fatal(err)
	}

	p := register(t, s, "replay-notify@example.com")
	r := s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken})
	expectStatus(t, r, http.StatusOK)
	for range 5 {
		expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": p.RefreshToken}), http.StatusUnauthorized, "unauthorized")
	}
	expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(p.AccessToken)), http.StatusUnauthorized, "unauthorized")

	const marker = "end-of-test"
	if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", revokedChannel, marker); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("wait for notification: %v (got %q)", err, got)
		}
		if n.Payload == marker {
			break
		}
		got = append(got, n.Payload)
	}
	if len(got) != 1 {
		t.Fatalf("notifications %q, want exactly one (the revocation)", got)
	}
}
