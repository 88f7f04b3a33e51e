package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AccountToken holds the schema definition for the AccountToken entity: a
// single-use token mailed to a user to verify an email address or to reset
// a password. Only its SHA-256 is stored; the mail carries the token.
type AccountToken struct {
	ent.Schema
}

// Annotations of the AccountToken.
func (AccountToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("account_tokens")}
}

// Fields of the AccountToken.
func (AccountToken) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").
			Positive().
			Immutable(),
		field.String("user_id").
			Immutable().
			NotEmpty().
			SchemaType(varchar(36)),
		field.Enum("purpose").
			Values("verify_email", "reset_password").
			Immutable(),
		// Hex SHA-256 of the token.
		field.String("hash").
			Immutable().
			NotEmpty().
			Unique().
			SchemaType(varchar(64)),
		// The address the token was mailed to: a verification proves only
		// that address, and is refused once the account's email changed.
		field.String("email").
			Immutable().
			SchemaType(varchar(255)),
		field.Time("created_at").
			Default(Now).
			Immutable(),
		field.Time("expires_at").
			Immutable(),
		field.Time("used_at").
			Optional().
			Nillable(),
	}
}

// Edges of the AccountToken.
func (AccountToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("account_tokens").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the AccountToken.
func (AccountToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "purpose"),
		index.Fields("expires_at"),
	}
}
