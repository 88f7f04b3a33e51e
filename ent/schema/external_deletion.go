package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// ExternalDeletion holds the schema definition for the ExternalDeletion
// entity: the id (the issuer's sub) and time of an account deleted here
// whose identity belongs to an external token issuer. The issuer's tokens
// are bearer JWTs that outlive the row; one issued before the deletion
// must not bring the account back.
type ExternalDeletion struct {
	ent.Schema
}

// Annotations of the ExternalDeletion.
func (ExternalDeletion) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("external_deletions")}
}

// Fields of the ExternalDeletion.
func (ExternalDeletion) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			Immutable().
			NotEmpty().
			Validate(maxRunes(36)).
			SchemaType(varchar(36)),
		field.Time("deleted_at"),
	}
}
