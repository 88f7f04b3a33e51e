package auth

import (
	"net/http"
	"testing"
)

// An adopted account may hold a hash bcrypt cannot read (its old system used
// another scheme, or a placeholder): no password matches it, and signing in
// is a 401 like a wrong password, never a 500.
func TestLoginWithUnreadableHash(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	for i, hash := range []string{"a1b2c3:d4e5f6", "$2b$12$short", "$9$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"} {
		p := register(t, s, "adopted@example.com")
		if _, err := e.db.SQL.Exec(`UPDATE users SET hashed_password = $1 WHERE id = $2`, hash, p.User.ID); err != nil {
			t.Fatal(err)
		}
		expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "adopted@example.com", "password": testPassword}), http.StatusUnauthorized, "invalid_credentials")
		if err := e.db.Ent.User.DeleteOneID(p.User.ID).Exec(t.Context()); err != nil {
			t.Fatal(err, i)
		}
	}
}
