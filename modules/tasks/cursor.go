package tasks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// The labels that derive one key per kind of token from the secret, so
// that a token of one kind never checks out as another.
const (
	cursorLabel = "tasks-cursor-v1"
	syncLabel   = "tasks-sync-v1"
)

const (
	cursorPayloadLen = 16 // sort key in µs since the epoch, then id
	tokenMACLen      = 16 // HMAC-SHA256 truncated to 128 bits
)

// sealer issues and checks opaque, integrity-protected tokens: a payload
// followed by a MAC that covers the user and a tag too, so a token replayed
// by another user or in another context (a list cursor with another
// status) is rejected rather than reinterpreted.
type sealer struct {
	key []byte
}

func newSealer(secret []byte, label string) sealer {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return sealer{key: m.Sum(nil)}
}

// seal returns the token of payload for userID and tag.
func (s sealer) seal(userID, tag string, payload []byte) string {
	buf := make([]byte, 0, len(payload)+tokenMACLen)
	buf = append(buf, payload...)
	buf = append(buf, s.mac(userID, tag, payload)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// open returns the payload of a token sealed for userID and tag whose
// payload is n bytes long; ok is false for anything else.
func (s sealer) open(token, userID, tag string, n int) (payload []byte, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != n+tokenMACLen {
		return nil, false
	}
	payload, sum := raw[:n], raw[n:]
	if !hmac.Equal(sum, s.mac(userID, tag, payload)) {
		return nil, false
	}
	return payload, true
}

func (s sealer) mac(userID, tag string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	// Lengths first, so that no two (user, tag) pairs share an input.
	var n [4]byte
	binary.BigEndian.PutUint16(n[0:2], uint16(len(userID))) //nolint:gosec // G115: user ids are at most 36 characters
	binary.BigEndian.PutUint16(n[2:4], uint16(len(tag)))    //nolint:gosec // G115: tags are a few characters
	m.Write(n[:])
	m.Write([]byte(userID))
	m.Write([]byte(tag))
	m.Write(payload)
	return m.Sum(nil)[:tokenMACLen]
}

// position is where a keyset page starts: after the row with this sort key
// (created_at, or completed_at for completed tasks) and id.
type position struct {
	At time.Time
	ID int64
}

// cursorCodec issues and checks the list cursors, bound to the user and
// the status.
type cursorCodec struct {
	s sealer
}

func newCursorCodec(secret []byte) cursorCodec {
	return cursorCodec{s: newSealer(secret, cursorLabel)}
}

func (c cursorCodec) encode(userID string, st Status, p position) string {
	var buf [cursorPayloadLen]byte
	binary.BigEndian.PutUint64(buf[0:8], uint64(p.At.UnixMicro()))
	binary.BigEndian.PutUint64(buf[8:16], uint64(p.ID)) //nolint:gosec // G115: two's complement, undone by decode
	return c.s.seal(userID, string(st), buf[:])
}

// decode returns the position of a cursor issued for userID and st, or
// ErrBadCursor for anything else.
func (c cursorCodec) decode(token, userID string, st Status) (position, error) {
	payload, ok := c.s.open(token, userID, string(st), cursorPayloadLen)
	if !ok {
		return position{}, ErrBadCursor
	}
	at := int64(binary.BigEndian.Uint64(payload[0:8]))  //nolint:gosec // G115: undoes encode's two's complement
	id := int64(binary.BigEndian.Uint64(payload[8:16])) //nolint:gosec // G115: undoes encode's; a negative id is rejected below
	if id <= 0 {
		return position{}, ErrBadCursor
	}
	return position{At: time.UnixMicro(at).UTC(), ID: id}, nil
}
