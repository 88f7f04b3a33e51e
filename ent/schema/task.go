package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Task holds the schema definition for the Task entity (table tasks).
type Task struct {
	ent.Schema
}

// Annotations of the Task.
func (Task) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("tasks")}
}

// Mixin of the Task.
func (Task) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}}
}

// Fields of the Task.
func (Task) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").
			Positive().
			Immutable(),
		field.String("user_id").
			Immutable().
			NotEmpty().
			SchemaType(varchar(36)),
		// Lengths count code points, not bytes: a title of 200 emoji is valid.
		field.String("title").
			NotEmpty().
			Validate(maxRunes(200)).
			SchemaType(varchar(200)),
		field.Text("description").
			Optional().
			Nillable().
			Validate(maxRunes(1000)),
		field.Bool("completed").
			Default(false),
		field.Time("completed_at").
			Optional().
			Nillable(),
		// The change number of the task's last write (task_counters.seq).
		// Null for a task not written since the change feed was added: a
		// full sync sends it, an incremental sync has nothing new to say.
		// Nullable so that SQLite adds the column in place: a column with
		// a default makes Atlas rebuild the table, which resets its
		// AUTOINCREMENT high-water mark and would hand out the ids of
		// deleted tasks again.
		field.Int64("change_seq").
			Optional().
			Nillable(),
	}
}

// Edges of the Task.
func (Task) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("tasks").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
		edge.To("idempotency_keys", IdempotencyKey.Type).
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

// Indexes of the Task: the seed's three, then one per list order so that a
// page is read from an index in order and never sorts the user's tasks (ties
// are broken by id, hence its place in each key).
func (Task) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id"),
		index.Fields("user_id", "completed"),
		index.Fields("created_at"),
		index.Fields("user_id", "created_at", "id").
			StorageKey("task_user_id_created_at_id").
			Annotations(entsql.DescColumns("created_at", "id")),
		index.Fields("user_id", "created_at", "id").
			StorageKey("task_user_id_created_at_id_pending").
			Annotations(entsql.DescColumns("created_at", "id"), entsql.IndexWhere("NOT completed")),
		index.Fields("user_id", "completed_at", "id").
			StorageKey("task_user_id_completed_at_id_completed").
			Annotations(entsql.DescColumns("completed_at", "id"), entsql.IndexWhere("completed")),
		// The change feed reads a user's tasks in change order after a
		// position. A change number is given out once per user, so the
		// index is unique (nulls, tasks not written since, do not collide).
		index.Fields("user_id", "change_seq").Unique(),
	}
}
