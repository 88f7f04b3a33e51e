package logging

import (
	"bytes"
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
