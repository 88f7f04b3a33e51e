package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// MailOutbox holds the schema definition for the MailOutbox entity: one
// queued mail, written in the transaction that decided to send it and
// drained by the mail worker (platform/mail), which sends it, retries it
// with backoff, or gives it up.
//
// It has no foreign key to users: a mail is addressed to an email address,
// not to an account, and deleting an account neither needs nor wants to
// recall the mail already queued for it (a token it carries dies with the
// account's token rows).
type MailOutbox struct {
	ent.Schema
}

// Annotations of the MailOutbox.
func (MailOutbox) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("mail_outbox")}
}

// Fields of the MailOutbox.
func (MailOutbox) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").
			Positive().
			Immutable(),
		field.String("to_addr").
			Immutable().
			NotEmpty().
			Validate(maxRunes(255)).
			SchemaType(varchar(255)),
		field.String("subject").
			Immutable().
			Validate(maxRunes(255)).
			SchemaType(varchar(255)),
		// The text/plain body; the marker {{secret}} stands for secret.
		field.Text("body").
			Immutable().
			NotEmpty(),
		// Substituted for the marker when the mail is sent; NULL once it is
		// sent or given up, so that a row at rest keeps no token.
		field.String("secret").
			Optional().
			Nillable().
			Sensitive().
			Validate(maxRunes(255)).
			SchemaType(varchar(255)),
		field.Time("created_at").
			Default(Now).
			Immutable(),
		// When the mail is next due; a claim moves it to the end of the
		// claim's lease, so the due query needs no other column.
		field.Time("next_attempt_at").
			Default(Now),
		// Claims so far, the one in flight included.
		field.Int("attempts").
			Default(0),
		// The lease of the worker that claimed the mail, if any.
		field.Time("claimed_until").
			Optional().
			Nillable(),
		field.Time("sent_at").
			Optional().
			Nillable(),
		// Set when the mail was given up: rejected for good (5xx) or still
		// failing after the longest retry time.
		field.Time("failed_at").
			Optional().
			Nillable(),
		field.Text("last_error").
			Default(""),
	}
}

// Indexes of the MailOutbox: the due query reads pending mail in
// next_attempt_at order; the purge finds old finished mail by created_at.
func (MailOutbox) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("next_attempt_at").
			StorageKey("mail_outbox_pending_next_attempt_at").
			Annotations(entsql.IndexWhere("sent_at IS NULL AND failed_at IS NULL")),
		index.Fields("created_at"),
	}
}
