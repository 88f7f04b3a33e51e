package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Session holds the schema definition for the Session entity: one login of a
// user, the unit that logout and revoke end. Access tokens name it (sid), so
// ending it ends every token issued in it.
type Session struct {
	ent.Schema
}

// Annotations of the Session.
func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("sessions")}
}

// Fields of the Session.
func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			DefaultFunc(uuid.NewString).
			Immutable().
			NotEmpty().
			SchemaType(varchar(36)),
		field.String("user_id").
			Immutable().
			NotEmpty().
			SchemaType(varchar(36)),
		field.Time("created_at").
			Default(Now).
			Immutable(),
		field.Time("last_used_at").
			Default(Now),
		// Fixed at login; rotating the refresh token does not extend it.
		field.Time("expires_at").
			Immutable(),
		field.Time("revoked_at").
			Optional().
			Nillable(),
		field.String("user_agent").
			Default("").
			Validate(maxRunes(255)).
			SchemaType(varchar(255)),
	}
}

// Edges of the Session.
func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("sessions").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
		edge.To("refresh_tokens", RefreshToken.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Session.
func (Session) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "created_at"),
		// The background purge deletes revoked and expired sessions in
		// batches; each reads one of these.
		index.Fields("revoked_at"),
		index.Fields("expires_at"),
	}
}
