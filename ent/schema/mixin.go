package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// Now is the clock every schema default uses: UTC, truncated to the
// microsecond that PostgreSQL's timestamptz stores, so a value read back from
// either database equals the value that was written.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// TimeMixin gives an entity created_at and updated_at. updated_at moves on
// every update through Ent's UpdateDefault, so no call site sets it by hand.
type TimeMixin struct {
	mixin.Schema
}

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(Now).
			Immutable().
			Annotations(entsql.Default("CURRENT_TIMESTAMP")),
		field.Time("updated_at").
			Default(Now).
			UpdateDefault(Now).
			Annotations(entsql.Default("CURRENT_TIMESTAMP")),
	}
}
