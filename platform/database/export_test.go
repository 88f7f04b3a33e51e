package database

import "time"

// LoseProbes makes l send its probe notifications where nobody listens, as
// a pooler in transaction mode loses notifications, and shortens its waits.
func LoseProbes(l *Listener, timeout time.Duration) {
	l.lose = true
	l.pingTimeout = timeout
	l.minBackoff, l.maxBackoff = 10*time.Millisecond, 50*time.Millisecond
}

// ShortenWaits shortens l's probe timeout and reconnection backoff.
func ShortenWaits(l *Listener, timeout time.Duration) {
	l.pingTimeout = timeout
	l.minBackoff, l.maxBackoff = 10*time.Millisecond, 50*time.Millisecond
}
