package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// IdempotencyKey holds the schema definition for the IdempotencyKey entity:
// the first response to a create that carried an Idempotency-Key header,
// replayed to repeats of the same key by the same user until it expires.
type IdempotencyKey struct {
	ent.Schema
}

// Annotations of the IdempotencyKey.
func (IdempotencyKey) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("idempotency_keys")}
}

// Fields of the IdempotencyKey.
func (IdempotencyKey) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").
			Positive().
			Immutable(),
		field.String("user_id").
			Immutable().
			NotEmpty().
			SchemaType(varchar(36)),
		field.String("key").
			Immutable().
			NotEmpty().
			Validate(maxRunes(255)).
			SchemaType(varchar(255)),
		// Hex SHA-256 of the request (method, path and body) the key was first used with.
		field.String("request_hash").
			Immutable().
			SchemaType(varchar(64)),
		field.Int64("task_id").
			Optional().
			Nillable(),
		field.Int("status_code").
			Default(0),
		field.Text("response_body").
			Default(""),
		field.String("location").
			Default("").
			SchemaType(varchar(255)),
		field.Time("created_at").
			Default(Now).
			Immutable(),
		field.Time("expires_at"),
	}
}

// Edges of the IdempotencyKey.
func (IdempotencyKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("idempotency_keys").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
		edge.From("task", Task.Type).
			Ref("idempotency_keys").
			Field("task_id").
			Unique(),
	}
}

// Indexes of the IdempotencyKey.
func (IdempotencyKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "key").Unique(),
		index.Fields("expires_at"),
	}
}
