package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// BenchmarkEndpoints measures whole requests through the full handler
// (middleware, authentication, module, PostgreSQL) over loopback HTTP, for
// profiling: go test -run '^$' -bench Endpoints -cpuprofile cpu.out ./cmd/todo
func BenchmarkEndpoints(b *testing.B) {
	db, url := newBenchDB(b)
	cfg := testConfig(&testing.T{}, url)
	cfg.Log.Level = "info"
	e, err := newHandler(context.Background(), cfg, db, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(e)
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64

	do := func(method, path, token string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			buf, _ := json.Marshal(body)
			rd = bytes.NewReader(buf)
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	st, out := do("POST", "/api/v1/auth/register", "", map[string]string{"email": "bench@example.com", "name": "Bench", "password": "bench password"})
	if st != http.StatusCreated {
		b.Fatalf("register: %d %s", st, out)
	}
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(out, &pair)
	tok := pair.AccessToken
	var ids []int64
	for i := range 200 {
		st, out := do("POST", "/api/v1/tasks", tok, map[string]string{"title": fmt.Sprintf("task %d", i)})
		if st != http.StatusCreated {
			b.Fatalf("create: %d %s", st, out)
		}
		var t struct {
			ID int64 `json:"id"`
		}
		_ = json.Unmarshal(out, &t)
		ids = append(ids, t.ID)
	}
	scenarios := []struct {
		name string
		req  func(i int64) (string, string, any)
	}{
		{"get", func(i int64) (string, string, any) {
			return "GET", fmt.Sprintf("/api/v1/tasks/%d", ids[i%int64(len(ids))]), nil
		}},
		{"list", func(int64) (string, string, any) { return "GET", "/api/v1/tasks?limit=50", nil }},
		{"toggle", func(i int64) (string, string, any) {
			return "POST", fmt.Sprintf("/api/v1/tasks/%d/toggle", ids[i%int64(len(ids))]), nil
		}},
		{"create", func(int64) (string, string, any) { return "POST", "/api/v1/tasks", map[string]string{"title": "bench"} }},
		{"healthz", func(int64) (string, string, any) { return "GET", "/healthz", nil }},
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(8)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m, p, body := sc.req(n.Add(1))
					if st, out := do(m, p, tok, body); st >= 300 {
						b.Errorf("%s %s: %d %s", m, p, st, out)
						return
					}
				}
			})
		})
	}
}
