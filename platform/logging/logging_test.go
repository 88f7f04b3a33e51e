package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"todo/platform/config"
)

// lockedBuffer records each Write as the output's system call would see it.
type lockedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

func (b *lockedBuffer) state() (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.writes
}

// TestGathering: the access log's lines wait, together, up to
// GatherInterval; any other record writes them first and goes out at once,
// so the output keeps the order of the records; close writes what waits.
func TestGathering(t *testing.T) {
	out := &lockedBuffer{}
	log, closeLog := NewGathering(out, config.Log{Level: "info"})
	access := Access(log)
	if access == log {
		t.Fatal("Access returned the logger itself")
	}
	for i := range 50 {
		access.Info("request", "n", i)
	}
	if text, writes := out.state(); writes != 0 || text != "" {
		t.Fatalf("access lines written at once: %d writes", writes)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		text, writes := out.state()
		if strings.Count(text, `"msg":"request"`) == 50 {
			if writes != 1 {
				t.Errorf("50 access lines took %d writes, want 1", writes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access lines still waiting after %s", 5*time.Second)
		}
		time.Sleep(10 * time.Millisecond)
	}

	access.Info("request", "n", "before")
	log.Warn("mail not sent")
	access.Info("request", "n", "after")
	text, _ := out.state()
	before, warn := strings.Index(text, `"n":"before"`), strings.Index(text, `"msg":"mail not sent"`)
	if before < 0 || warn < 0 || before > warn {
		t.Fatalf("another record did not write the waiting access line first:\n%s", text)
	}
	if strings.Contains(text, `"n":"after"`) {
		t.Fatal("the access line after the warning was written at once")
	}
	closeLog()
	if text, _ := out.state(); !strings.Contains(text, `"n":"after"`) {
		t.Fatal("close did not write the waiting access line")
	}
	access.Info("request", "n", "closed")
	if text, _ := out.state(); !strings.Contains(text, `"n":"closed"`) {
		t.Fatal("an access line after close waited")
	}
	if plain := New(out, config.Log{}); Access(plain) != plain {
		t.Fatal("Access of New's logger is not that logger")
	}
}

// TestGatheringConcurrentOrder: writers interleave access lines and other
// records while the timer flushes and the log closes midway: every line is
// written whole, once, and each writer's records keep their order.
func TestGatheringConcurrentOrder(t *testing.T) {
	out := &lockedBuffer{}
	log, closeLog := NewGathering(out, config.Log{Level: "info"})
	access := Access(log)
	const writers, n = 8, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range n {
				if i%5 == 4 {
					log.With("k", "v").Warn("other", "w", w, "i", i)
				} else {
					access.Info("request", "w", w, "i", i)
				}
				if w == 0 && i == n/2 {
					closeLog()
				}
			}
		})
	}
	wg.Wait()
	closeLog()
	text, _ := out.state()
	last := make([]int, writers)
	for k := range last {
		last[k] = -1
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != writers*n {
		t.Fatalf("%d lines, want %d", len(lines), writers*n)
	}
	for _, l := range lines {
		var r struct{ W, I int }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if r.I <= last[r.W] {
			t.Fatalf("writer %d: record %d after %d", r.W, r.I, last[r.W])
		}
		last[r.W] = r.I
	}
}
