package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
)

// User holds the schema definition for the User entity (table users).
type User struct {
	ent.Schema
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("users")}
}

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			DefaultFunc(uuid.NewString).
			Immutable().
			NotEmpty().
			Validate(maxRunes(36)).
			SchemaType(varchar(36)),
		// Stored trimmed and lower-cased by the service, so the unique index
		// makes addresses that differ only in case collide.
		field.String("email").
			Unique().
			NotEmpty().
			Validate(maxRunes(255)).
			SchemaType(varchar(255)),
		field.String("name").
			NotEmpty().
			Validate(maxRunes(100)).
			SchemaType(varchar(100)),
		field.String("hashed_password").
			Sensitive().
			NotEmpty().
			Validate(maxRunes(255)).
			SchemaType(varchar(255)),
		field.Bool("is_active").
			Default(true),
		field.Bool("email_verified").
			Default(false),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("tasks", Task.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("sessions", Session.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("account_tokens", AccountToken.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("idempotency_keys", IdempotencyKey.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("task_counter", TaskCounter.Type).
			Unique().
			StorageKey(edge.Column("user_id")).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("task_tombstones", TaskTombstone.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

func varchar(n int) map[string]string {
	return map[string]string{dialect.Postgres: "varchar(" + itoa(n) + ")"}
}
