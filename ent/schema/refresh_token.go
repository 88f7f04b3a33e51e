package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// RefreshToken holds the schema definition for the RefreshToken entity: every
// refresh token ever issued in a session, kept only as a SHA-256 hash. A
// token is spent when it is rotated; presenting a spent one again is reuse.
type RefreshToken struct {
	ent.Schema
}

// Annotations of the RefreshToken.
func (RefreshToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("refresh_tokens")}
}

// Fields of the RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		// Hex SHA-256 of the token: the token itself is never stored.
		field.String("id").
			StorageKey("hash").
			Immutable().
			NotEmpty().
			SchemaType(varchar(64)),
		field.String("session_id").
			Immutable().
			NotEmpty().
			SchemaType(varchar(36)),
		field.Time("created_at").
			Default(Now).
			Immutable(),
		field.Time("spent_at").
			Optional().
			Nillable(),
	}
}

// Edges of the RefreshToken.
func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("session", Session.Type).
			Ref("refresh_tokens").
			Field("session_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("session_id"),
	}
}
