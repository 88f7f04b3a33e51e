package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// floodConfig is a flood run: one account hammers one password endpoint
// with wrong passwords while other users log in at a steady pace, and the
// report gives those logins' latency.
type floodConfig struct {
	url         string
	endpoint    string // login | register | password | delete
	conc        int
	duration    time.Duration
	victims     int
	loginEvery  time.Duration
	allowRemote bool
}

// floodAddr is the client address the flood claims in X-Forwarded-For;
// each victim claims one of its own. The service believes them only when
// it trusts the load tool's address (HTTP_TRUSTED_PROXIES=127.0.0.1), as a
// real deployment trusts its proxy; otherwise every request shares one
// address and its one allowance.
const floodAddr = "203.0.113.1"

// floodEndpoints are the endpoints a flood can hammer: every one that runs
// bcrypt.
var floodEndpoints = []string{"login", "register", "password", "delete"}

func parseFloodFlags(args []string, stderr io.Writer) (floodConfig, error) {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c floodConfig
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "base URL of the service")
	fs.StringVar(&c.endpoint, "endpoint", "delete", "what the flooding account hammers: "+strings.Join(floodEndpoints, ", "))
	fs.IntVar(&c.conc, "c", 32, "concurrent flooding requests, all from one account (one address); 0 measures the victims' logins alone, the baseline")
	fs.DurationVar(&c.duration, "d", 20*time.Second, "how long the flood runs")
	fs.IntVar(&c.victims, "victims", 4, "other users, each logging in with its correct password every -every")
	fs.DurationVar(&c.loginEvery, "every", time.Second, "pace of each victim's logins")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a non-loopback -url")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case !slices.Contains(floodEndpoints, c.endpoint):
		return c, fmt.Errorf("-endpoint %q: want one of %s", c.endpoint, strings.Join(floodEndpoints, ", "))
	case c.conc < 0 || c.victims < 1 || c.duration <= 0 || c.loginEvery <= 0:
		return c, errors.New("-victims, -d and -every must be positive, -c not negative")
	}
	u, err := url.Parse(c.url)
	if err != nil || u.Host == "" {
		return c, fmt.Errorf("-url %q is not a URL", c.url)
	}
	if !c.allowRemote && !isLoopbackHost(u.Hostname()) {
		return c, fmt.Errorf("-url %q is not on loopback; pass -allow-remote to load another machine", c.url)
	}
	return c, nil
}

// runFlood runs the flood and prints the victims' login latency.
func runFlood(ctx context.Context, cfg floodConfig, out io.Writer) error {
	t := &target{label: "A", base: strings.TrimRight(cfg.url, "/"), mode: modeAPI, client: newHTTPClient(cfg.conc+cfg.victims, 30*time.Second, cfg.allowRemote)}
	runID := newRunID()
	flooder := &account{email: "flood-" + runID + "@load.example", password: defaultPassword}
	if err := t.register(ctx, flooder, "Flooder"); err != nil {
		return err
	}
	victims := make([]*account, cfg.victims)
	for i := range victims {
		victims[i] = &account{email: fmt.Sprintf("victim-%s-%d@load.example", runID, i), password: defaultPassword}
		if err := t.register(ctx, victims[i], "Victim"); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "flood: %d concurrent %s requests from one account for %v; %d users logging in every %v\n",
		cfg.conc, cfg.endpoint, cfg.duration, cfg.victims, cfg.loginEvery)

	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	var (
		mu           sync.Mutex
		floodStatus  = map[int]int{}
		victimStatus = map[int]int{}
		latencies    []time.Duration
		wg           sync.WaitGroup
	)
	for i := range cfg.conc {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				req, err := floodRequest(ctx, t, flooder, cfg.endpoint, runID, i, n)
				if err != nil {
					return
				}
				req.Header.Set("X-Forwarded-For", floodAddr)
				st, err := t.hit(req)
				if err != nil {
					st = 0
				}
				mu.Lock()
				floodStatus[st]++
				mu.Unlock()
			}
		})
	}
	for vi, v := range victims {
		wg.Go(func() {
			tick := time.NewTicker(cfg.loginEvery)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				req, _, err := t.newRequest(context.WithoutCancel(ctx), v, loginRequest(v))
				if err != nil {
					return
				}
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", vi+1))
				start := time.Now()
				st, err := t.hit(req)
				d := time.Since(start)
				if err != nil {
					st = 0
				}
				mu.Lock()
				victimStatus[st]++
				if st == http.StatusOK {
					latencies = append(latencies, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	fmt.Fprintf(out, "flood statuses:  %s\n", formatStatuses(floodStatus))
	fmt.Fprintf(out, "victim statuses: %s\n", formatStatuses(victimStatus))
	if len(latencies) == 0 {
		return errors.New("no victim login succeeded")
	}
	fmt.Fprintf(out, "victim login latency over %d logins: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n",
		len(latencies), ms(percentile(latencies, 50)), ms(percentile(latencies, 90)), ms(percentile(latencies, 99)), ms(latencies[len(latencies)-1]))
	return nil
}

// floodRequest is the n-th request of flooding worker i: a wrong password,
// or for register a fresh email each time.
func floodRequest(ctx context.Context, t *target, a *account, endpoint, runID string, i, n int) (*http.Request, error) {
	var r apiRequest
	switch endpoint {
	case "login":
		r = apiRequest{method: http.MethodPost, path: "/api/v1/auth/login", anonymous: true,
			body: jsonBody(map[string]string{"email": a.email, "password": "a wrong password"})}
	case "register":
		r = apiRequest{method: http.MethodPost, path: "/api/v1/auth/register", anonymous: true,
			body: jsonBody(map[string]string{"email": fmt.Sprintf("flood-%s-%d-%d@load.example", runID, i, n), "name": "F", "password": defaultPassword})}
	case "password":
		r = apiRequest{method: http.MethodPut, path: "/api/v1/users/me/password",
			body: jsonBody(map[string]string{"current_password": "a wrong password", "new_password": "another password"})}
	default:
		r = apiRequest{method: http.MethodDelete, path: "/api/v1/users/me", body: jsonBody(map[string]string{"password": "a wrong password"})}
	}
	req, _, err := t.newRequest(ctx, a, r)
	return req, err
}

// formatStatuses lists status counts in order, 0 for transport errors.
func formatStatuses(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d×%d", c, m[c])
	}
	return strings.Join(parts, " ")
}
