package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// ExternalDeletion holds the schema definition for the ExternalDeletion
// entity: the id (the issuer's sub) of an account whose identity belongs
// to an external token issuer, and when it was last deleted or disabled
// here. The issuer's tokens are bearer JWTs that outlive both; one issued
// before must not bring the account back, nor act for it once it is
// enabled again.
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
