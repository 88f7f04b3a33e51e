package tasks

import (
	"context"
	"sync"
)

// userGate lets one write per user at a time into the database from this
// process. A user's writes run one at a time anyway (each holds the user's
// counter row until it commits); without the gate the others would wait
// for that row inside database connections, so that one user's burst of
// writes could hold the whole pool and leave every other user's requests
// waiting for a connection. With it they wait here, holding none.
type userGate struct {
	mu    sync.Mutex
	users map[string]*gateTurn
}

// gateTurn is a user's place at the gate: a token channel, and how many
// writes hold it or wait for it.
type gateTurn struct {
	token chan struct{}
	n     int
}

func newUserGate() *userGate {
	return &userGate{users: map[string]*gateTurn{}}
}

// enter waits for the user's turn; leave must be called once it is done.
// A context ended while waiting is the error.
func (g *userGate) enter(ctx context.Context, userID string) (leave func(), err error) {
	g.mu.Lock()
	turn := g.users[userID]
	if turn == nil {
		turn = &gateTurn{token: make(chan struct{}, 1)}
		g.users[userID] = turn
	}
	turn.n++
	g.mu.Unlock()
	done := func() {
		g.mu.Lock()
		if turn.n--; turn.n == 0 {
			delete(g.users, userID)
		}
		g.mu.Unlock()
	}
	select {
	case turn.token <- struct{}{}:
		return func() { <-turn.token; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// waiting is how many writes wait at the gate (not those inside).
func (g *userGate) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, turn := range g.users {
		n += turn.n - len(turn.token)
	}
	return n
}
