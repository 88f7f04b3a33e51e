package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// TaskCounter holds the schema definition for the TaskCounter entity: one
// row per user, keyed by the user's id, that every write to the user's tasks
// updates in its own transaction. Its row lock, held to commit, serialises a
// user's task writes, so the change numbers it hands out commit in order;
// the change feed (GET /tasks/changes) relies on that. It also counts the
// user's tasks, so GET /tasks/stats reads one row.
type TaskCounter struct {
	ent.Schema
}

// Annotations of the TaskCounter.
func (TaskCounter) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("task_counters")}
}

// Fields of the TaskCounter.
func (TaskCounter) Fields() []ent.Field {
	return []ent.Field{
		// The user's id: the row is the user's, created with their first write.
		field.String("id").
			StorageKey("user_id").
			Immutable().
			NotEmpty().
			SchemaType(varchar(36)),
		// The last change number handed out for the user's tasks.
		field.Int64("seq").
			Default(0),
		// The user's tasks, and how many of them are completed.
		field.Int64("total").
			Default(0),
		field.Int64("completed").
			Default(0),
		// The highest change number of a tombstone purged after the
		// retention window: a sync token before it may have missed a deletion.
		field.Int64("purged_seq").
			Default(0),
	}
}

// Edges of the TaskCounter.
func (TaskCounter) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("task_counter").
			Unique().
			Required().
			Immutable(),
	}
}
