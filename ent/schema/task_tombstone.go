package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// TaskTombstone holds the schema definition for the TaskTombstone entity: a
// deleted task, recorded in the transaction that deleted it, so that the
// change feed can tell syncing clients. Tombstones are purged after the
// retention window (TASKS_TOMBSTONE_TTL).
type TaskTombstone struct {
	ent.Schema
}

// Annotations of the TaskTombstone.
func (TaskTombstone) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("task_tombstones")}
}

// Fields of the TaskTombstone.
func (TaskTombstone) Fields() []ent.Field {
	notGenerated := false
	return []ent.Field{
		// The deleted task's id, never handed out again.
		field.Int64("id").
			Positive().
			Immutable().
			Annotations(entsql.Annotation{Incremental: &notGenerated}),
		field.String("user_id").
			Immutable().
			NotEmpty().
			SchemaType(varchar(36)),
		// The change number of the deletion (task_counters.seq).
		field.Int64("change_seq").
			Immutable(),
		field.Time("deleted_at").
			Immutable(),
	}
}

// Edges of the TaskTombstone.
func (TaskTombstone) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("task_tombstones").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the TaskTombstone: the change feed reads a user's tombstones
// in change order after a position (a change number is given out once per
// user, hence unique); the purge finds the oldest.
func (TaskTombstone) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "change_seq").Unique(),
		index.Fields("deleted_at"),
	}
}
