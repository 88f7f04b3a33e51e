package tasks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// cursorLabel separates the cursor key from every other use of the secret.
const cursorLabel = "tasks-cursor-v1"

const (
	cursorPayloadLen = 16 // sort key in µs since the epoch, then id
	cursorMACLen     = 16 // HMAC-SHA256 truncated to 128 bits
)

// position is where a keyset page starts: after the row with this sort key
// (created_at, or completed_at for completed tasks) and id.
type position struct {
	At time.Time
	ID int64
}

// cursorCodec issues and checks opaque, integrity-protected cursors. The
// MAC covers the user and the status too, so a cursor replayed by another
// user or with another status is rejected rather than reinterpreted.
type cursorCodec struct {
	key []byte
}

func newCursorCodec(secret []byte) cursorCodec {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(cursorLabel))
	return cursorCodec{key: m.Sum(nil)}
}

func (c cursorCodec) encode(userID string, st Status, p position) string {
	var buf [cursorPayloadLen + cursorMACLen]byte
	binary.BigEndian.PutUint64(buf[0:8], uint64(p.At.UnixMicro()))
	binary.BigEndian.PutUint64(buf[8:16], uint64(p.ID)) //nolint:gosec // G115: two's complement, undone by decode
	copy(buf[cursorPayloadLen:], c.mac(userID, st, buf[:cursorPayloadLen]))
	return base64.RawURLEncoding.EncodeToString(buf[:])
}

// decode returns the position of a cursor issued for userID and st, or
// ErrBadCursor for anything else.
func (c cursorCodec) decode(token, userID string, st Status) (position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != cursorPayloadLen+cursorMACLen {
		return position{}, ErrBadCursor
	}
	payload, sum := raw[:cursorPayloadLen], raw[cursorPayloadLen:]
	if !hmac.Equal(sum, c.mac(userID, st, payload)) {
		return position{}, ErrBadCursor
	}
	at := int64(binary.BigEndian.Uint64(payload[0:8]))  //nolint:gosec // G115: undoes encode's two's complement
	id := int64(binary.BigEndian.Uint64(payload[8:16])) //nolint:gosec // G115: undoes encode's; a negative id is rejected below
	if id <= 0 {
		return position{}, ErrBadCursor
	}
	return position{At: time.UnixMicro(at).UTC(), ID: id}, nil
}

func (c cursorCodec) mac(userID string, st Status, payload []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	// Lengths first, so that no two (user, status) pairs share an input.
	var n [4]byte
	binary.BigEndian.PutUint16(n[0:2], uint16(len(userID))) //nolint:gosec // G115: user ids are 36-character UUIDs
	binary.BigEndian.PutUint16(n[2:4], uint16(len(st)))     //nolint:gosec // G115: statuses are a few characters
	m.Write(n[:])
	m.Write([]byte(userID))
	m.Write([]byte(st))
	m.Write(payload)
	return m.Sum(nil)[:cursorMACLen]
}
