package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
)

// scenario is one kind of load: it picks each next request of a worker.
type scenario struct {
	name string
	raw  bool // the rawceiling yardstick answers it too
	next func(w *worker) (apiRequest, error)
}

// errPoolEmpty ends a delete round whose pre-created tasks are all deleted.
var errPoolEmpty = errors.New("delete pool empty")

// errNoIDs means setup left an account without tasks to work on.
var errNoIDs = errors.New("the account has no tasks to work on")

// worker is the state of one closed-loop worker.
type worker struct {
	acct      *account
	rng       *rand.Rand
	seq       int
	listLimit int
	syncLimit int
	syncToken string // sync-full: where the worker's full sync is; "" starts one
}

// mixWeights is the mobile-client mix: mostly lists and toggles.
func mixWeights() []struct {
	scenario string
	weight   int
} {
	return []struct {
		scenario string
		weight   int
	}{
		{"list-all", 25}, {"list-pending", 25}, {"toggle", 25}, {"get", 10}, {"create", 10}, {"stats", 5},
	}
}

// scenarios returns every scenario in report order.
func scenarios() []scenario {
	list := func(status string) func(*worker) (apiRequest, error) {
		return func(w *worker) (apiRequest, error) {
			return apiRequest{method: http.MethodGet, path: "/api/v1/tasks?status=" + status + "&limit=" + strconv.Itoa(w.listLimit)}, nil
		}
	}
	onTask := func(method, suffix string, body func(*worker) []byte) func(*worker) (apiRequest, error) {
		return func(w *worker) (apiRequest, error) {
			ids := w.acct.ids
			if len(ids) == 0 {
				return apiRequest{}, errNoIDs
			}
			r := apiRequest{method: method, path: taskPath(ids[w.rng.IntN(len(ids))]) + suffix}
			if body != nil {
				r.body = body(w)
			}
			return r, nil
		}
	}
	create := func(w *worker) (apiRequest, error) {
		in := map[string]string{"title": randomTitle(w.rng)}
		if w.rng.IntN(3) == 0 {
			in["description"] = randomDescription(w.rng)
		}
		return apiRequest{method: http.MethodPost, path: "/api/v1/tasks", body: jsonBody(in)}, nil
	}
	update := func(w *worker) []byte {
		w.seq++
		return jsonBody(map[string]string{"title": randomTitle(w.rng) + " (" + strconv.Itoa(w.seq) + ")"})
	}
	del := func(w *worker) (apiRequest, error) {
		id, ok := w.acct.pool.pop()
		if !ok {
			return apiRequest{}, errPoolEmpty
		}
		return apiRequest{method: http.MethodDelete, path: taskPath(id)}, nil
	}
	all := []scenario{
		{name: "list-all", raw: true, next: list("all")},
		{name: "list-pending", raw: true, next: list("pending")},
		{name: "list-completed", next: list("completed")},
		{name: "get", raw: true, next: onTask(http.MethodGet, "", nil)},
		{name: "create", raw: true, next: create},
		{name: "update", raw: true, next: onTask(http.MethodPatch, "", update)},
		{name: "toggle", next: onTask(http.MethodPost, "/toggle", nil)},
		{name: "delete", next: del},
		{name: "stats", next: func(*worker) (apiRequest, error) {
			return apiRequest{method: http.MethodGet, path: "/api/v1/tasks/stats"}, nil
		}},
		{name: "login", next: func(w *worker) (apiRequest, error) { return loginRequest(w.acct), nil }},
		{name: "sync-full", next: syncFull},
		{name: "sync-incremental", next: syncIncremental},
	}
	byName := map[string]scenario{}
	for _, s := range all {
		byName[s.name] = s
	}
	weights := mixWeights()
	total := 0
	for _, m := range weights {
		total += m.weight
	}
	mixed := func(w *worker) (apiRequest, error) {
		n := w.rng.IntN(total)
		for _, m := range weights {
			if n < m.weight {
				return byName[m.scenario].next(w)
			}
			n -= m.weight
		}
		panic("unreachable")
	}
	return append(all, scenario{name: "mixed", next: mixed})
}

// syncFull is one page of a full sync of the worker's account: each worker
// follows next_token through the user's tasks, then starts over.
func syncFull(w *worker) (apiRequest, error) {
	return apiRequest{method: http.MethodGet, path: syncPath(w.syncToken, w.syncLimit), items: func(body []byte) (int, error) {
		var page syncPage
		if err := json.Unmarshal(body, &page); err != nil {
			return 0, fmt.Errorf("sync-full: decode page: %w", err)
		}
		w.syncToken = ""
		if page.HasMore {
			w.syncToken = page.NextToken
		}
		return len(page.Changes), nil
	}}, nil
}

// syncIncremental asks for the changes after the account's token, which
// prepareSync set to owe -sync-changes changes.
func syncIncremental(w *worker) (apiRequest, error) {
	if w.acct.syncBase == "" {
		return apiRequest{}, errors.New("sync-incremental: no sync token (prepareSync did not run)")
	}
	return apiRequest{method: http.MethodGet, path: syncPath(w.acct.syncBase, 1000), items: func(body []byte) (int, error) {
		var page syncPage
		if err := json.Unmarshal(body, &page); err != nil {
			return 0, fmt.Errorf("sync-incremental: decode page: %w", err)
		}
		return len(page.Changes), nil
	}}, nil
}

// scenarioNames returns the names of every scenario in report order.
func scenarioNames() []string {
	var names []string
	for _, s := range scenarios() {
		names = append(names, s.name)
	}
	return names
}

// lookupScenario finds a scenario by name.
func lookupScenario(name string) (scenario, bool) {
	for _, s := range scenarios() {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}
