package tasks

import (
	"encoding/binary"
	"time"
)

// syncTokenTag binds sync tokens to the change feed within their key.
const syncTokenTag = "changes"

// syncTokenLen is the payload of a sync token: a kind byte, the issue time,
// the change number, for a full sync the position in its listing, and the
// account's creation time.
const syncTokenLen = 1 + 8 + 8 + 8 + 8 + 8

// The kinds of sync token.
const (
	tokenIncremental byte = 1
	tokenFull        byte = 2
)

// syncToken is what a change-feed token (next_token, since) carries. In
// both kinds the client is owed every change numbered after Seq. A full
// token (a full sync under way) also owes the rest of the user's tasks
// after the last one sent, (At, ID) in newest-first order; Seq is then the
// last change number the full sync had seen when it started.
type syncToken struct {
	Issued time.Time // past TASKS_TOMBSTONE_TTL the token is a 410
	Seq    int64
	Full   bool
	At     time.Time // full only: created_at of the last task sent
	ID     int64     // full only: its id
	// Account is the user's created_at in µs when the token was issued (0:
	// no such user). An account deleted and created again with the same
	// id (an external account's id is its issuer's sub) starts its change
	// numbers again; a token of the old one must not continue in it.
	Account int64
}

// syncCodec issues and checks sync tokens, bound to the user.
type syncCodec struct {
	s sealer
}

func newSyncCodec(secret []byte) syncCodec {
	return syncCodec{s: newSealer(secret, syncLabel)}
}

func (c syncCodec) encode(userID string, t syncToken) string {
	var buf [syncTokenLen]byte
	buf[0] = tokenIncremental
	if t.Full {
		buf[0] = tokenFull
		binary.BigEndian.PutUint64(buf[17:25], uint64(t.At.UnixMicro()))
		binary.BigEndian.PutUint64(buf[25:33], uint64(t.ID)) //nolint:gosec // G115: two's complement, undone by decode
	}
	binary.BigEndian.PutUint64(buf[1:9], uint64(t.Issued.UnixMicro()))
	binary.BigEndian.PutUint64(buf[9:17], uint64(t.Seq))      //nolint:gosec // G115: two's complement, undone by decode
	binary.BigEndian.PutUint64(buf[33:41], uint64(t.Account)) //nolint:gosec // G115: two's complement, undone by decode
	return c.s.seal(userID, syncTokenTag, buf[:])
}

// decode returns the token issued for userID, or ErrBadSyncToken for
// anything this server did not issue to this user.
func (c syncCodec) decode(token, userID string) (syncToken, error) {
	p, ok := c.s.open(token, userID, syncTokenTag, syncTokenLen)
	if !ok {
		return syncToken{}, ErrBadSyncToken
	}
	word := func(i int) int64 { return int64(binary.BigEndian.Uint64(p[i : i+8])) } //nolint:gosec // G115: undoes encode's two's complement
	t := syncToken{Issued: time.UnixMicro(word(1)).UTC(), Seq: word(9), Account: word(33)}
	switch p[0] {
	case tokenIncremental:
		if word(17) != 0 || word(25) != 0 {
			return syncToken{}, ErrBadSyncToken
		}
	case tokenFull:
		t.Full, t.At, t.ID = true, time.UnixMicro(word(17)).UTC(), word(25)
		if t.ID <= 0 {
			return syncToken{}, ErrBadSyncToken
		}
	default:
		return syncToken{}, ErrBadSyncToken
	}
	if t.Seq < 0 {
		return syncToken{}, ErrBadSyncToken
	}
	return t, nil
}
