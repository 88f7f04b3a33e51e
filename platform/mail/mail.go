// Package mail delivers the service's mail through a transactional outbox:
// Enqueue writes a mail into the mail_outbox table in the caller's
// transaction, beside whatever made it necessary (a token), and a Worker in
// every process claims due mail, sends it over SMTP (or, with no SMTP URL,
// writes it to the log), and records the outcome. An SMTP outage delays mail
// and loses none; a restart resumes it; two workers never claim the same
// mail at once.
//
// A mail may carry one secret (a token): its body holds the marker
// {{secret}}, the row holds the secret until the mail is sent or given up,
// and the worker substitutes it at sending time, so that no row at rest
// keeps a token once its mail is gone.
package mail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"todo/ent"
	"todo/platform/config"
)

// SecretMarker is the text in a Message's Body that the Secret replaces
// when the mail is sent.
const SecretMarker = "{{secret}}"

// Config is the mail settings, read from the environment by
// platform/config (MAIL_SMTP_URL, MAIL_FROM, …; see configs/defaults.env).
type Config = config.Mail

// Message is one mail to queue: a text/plain Body to one address. When
// Secret is set, Body must contain SecretMarker, which it replaces when the
// mail is sent.
type Message struct {
	To      string
	Subject string
	Body    string
	Secret  string
}

// dueAtOnce is the next_attempt_at of a new mail: due whatever a worker's
// clock says (a test's clock may run behind the wall clock that stamps
// created_at), and ahead of every retry.
var dueAtOnce = time.Unix(0, 0).UTC()

// ErrInvalidMessage is the error Enqueue returns, wrapped with the reason,
// for a Message it refuses.
var ErrInvalidMessage = errors.New("mail: invalid message")

// maxField is the longest To, Subject and Secret, in characters (the
// columns are varchar(255)).
const maxField = 255

// Enqueue queues m in tx, the caller's transaction: the mail exists if and
// only if the transaction commits. Call the Worker's Wake after the commit
// to have it sent at once. An invalid m is an error wrapping
// ErrInvalidMessage, and nothing is written.
func Enqueue(ctx context.Context, tx *ent.Tx, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	c := tx.MailOutbox.Create().
		SetNextAttemptAt(dueAtOnce).
		SetToAddr(m.To).
		SetSubject(m.Subject).
		SetBody(m.Body)
	if m.Secret != "" {
		c.SetSecret(m.Secret)
	}
	if err := c.Exec(ctx); err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	return nil
}

// CheckAddress reports whether addr can be the To of a Message: one mail
// address (with an optional display name) on one line, at most 255
// characters. Some addresses that look valid cannot be written in a mail
// header (a local part with a dot at either end, or two dots in a row);
// check an address with it before promising a mail to it. An address it
// refuses is an error wrapping ErrInvalidMessage.
func CheckAddress(addr string) error {
	switch {
	case strings.ContainsAny(addr, "\r\n"):
		return fmt.Errorf("%w: To must be one line", ErrInvalidMessage)
	case strings.TrimSpace(addr) == "":
		return fmt.Errorf("%w: To is empty", ErrInvalidMessage)
	case utf8.RuneCountInString(addr) > maxField:
		return fmt.Errorf("%w: To is at most %d characters", ErrInvalidMessage, maxField)
	}
	if _, err := netmail.ParseAddress(addr); err != nil {
		return fmt.Errorf("%w: To is not one mail address: %w", ErrInvalidMessage, err)
	}
	return nil
}

// validate refuses what could not be sent as meant: more or less than one
// address, a header line break (header injection), a missing body, and a
// secret that the body does not place (or a marker with no secret).
func (m Message) validate() error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidMessage}, args...)...)
	}
	if err := CheckAddress(m.To); err != nil {
		return err
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return invalid("Subject must be one line")
	}
	if utf8.RuneCountInString(m.Subject) > maxField {
		return invalid("Subject is at most %d characters", maxField)
	}
	if strings.TrimSpace(m.Subject) == "" {
		return invalid("Subject is empty")
	}
	if !utf8.ValidString(m.Subject) || !utf8.ValidString(m.Body) {
		return invalid("Subject and Body must be UTF-8")
	}
	if strings.TrimSpace(m.Body) == "" {
		return invalid("Body is empty")
	}
	hasMarker := strings.Contains(m.Body, SecretMarker)
	switch {
	case m.Secret == "" && hasMarker:
		return invalid("Body has the secret marker but there is no Secret")
	case m.Secret != "" && !hasMarker:
		return invalid("Secret is set but Body has no %s marker to put it in", SecretMarker)
	case utf8.RuneCountInString(m.Secret) > maxField:
		return invalid("Secret is at most %d characters", maxField)
	case strings.IndexFunc(m.Secret, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return invalid("Secret must not contain spaces or control characters")
	}
	return nil
}
