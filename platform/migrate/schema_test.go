package migrate_test

import (
	"strings"
	"testing"

	"entgo.io/ent/dialect"
)

// TestPostgresSchema checks what the migrations build against the seed's
// users and tasks tables, column by column, from the catalog.
func TestPostgresSchema(t *testing.T) {
	t.Parallel()
	tg := emptyPostgres(t)
	tg.apply(t, embedded(t, dialect.Postgres))
	const columns = `
SELECT format('%s %s(%s) null=%s default=%s identity=%s', column_name, data_type,
       coalesce(character_maximum_length::text, '-'), is_nullable, coalesce(column_default, '-'),
       coalesce(identity_generation, '-'))
FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`
	const indexes = `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1 ORDER BY indexname`
	const constraints = `SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = ('public.' || $1)::regclass ORDER BY conname`
	for _, tc := range []struct {
		name, table, query string
		want               []string
	}{
		{"schema/users/columns", "users", columns, []string{
			"id character varying(36) null=NO default=- identity=-",
			"created_at timestamp with time zone(-) null=NO default=CURRENT_TIMESTAMP identity=-",
			"updated_at timestamp with time zone(-) null=NO default=CURRENT_TIMESTAMP identity=-",
			"email character varying(255) null=NO default=- identity=-",
			"name character varying(100) null=NO default=- identity=-",
			"hashed_password character varying(255) null=NO default=- identity=-",
			"is_active boolean(-) null=NO default=true identity=-",
			"email_verified boolean(-) null=NO default=false identity=-",
		}},
		{"schema/users/indexes", "users", indexes, []string{
			"CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email)",
			"CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)",
		}},
		{"schema/users/constraints", "users", constraints, []string{
			"users_pkey PRIMARY KEY (id)",
		}},
		{"schema/tasks/columns", "tasks", columns, []string{
			"id bigint(-) null=NO default=- identity=BY DEFAULT",
			"created_at timestamp with time zone(-) null=NO default=CURRENT_TIMESTAMP identity=-",
			"updated_at timestamp with time zone(-) null=NO default=CURRENT_TIMESTAMP identity=-",
			"title character varying(200) null=NO default=- identity=-",
			"description text(-) null=YES default=- identity=-",
			"completed boolean(-) null=NO default=false identity=-",
			"completed_at timestamp with time zone(-) null=YES default=- identity=-",
			"user_id character varying(36) null=NO default=- identity=-",
			"change_seq bigint(-) null=YES default=- identity=-",
		}},
		{"schema/tasks/indexes", "tasks", indexes, []string{
			"CREATE INDEX task_created_at ON public.tasks USING btree (created_at)",
			"CREATE INDEX task_user_id ON public.tasks USING btree (user_id)",
			"CREATE UNIQUE INDEX task_user_id_change_seq ON public.tasks USING btree (user_id, change_seq)",
			"CREATE INDEX task_user_id_completed ON public.tasks USING btree (user_id, completed)",
			"CREATE INDEX task_user_id_completed_at_id_completed ON public.tasks USING btree (user_id, completed_at DESC, id DESC) WHERE completed",
			"CREATE INDEX task_user_id_created_at_id ON public.tasks USING btree (user_id, created_at DESC, id DESC)",
			"CREATE INDEX task_user_id_created_at_id_pending ON public.tasks USING btree (user_id, created_at DESC, id DESC) WHERE (NOT completed)",
			"CREATE UNIQUE INDEX tasks_pkey ON public.tasks USING btree (id)",
		}},
		{"schema/tasks/constraints", "tasks", constraints, []string{
			"tasks_pkey PRIMARY KEY (id)",
			"tasks_users_tasks FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
		}},
		{"schema/task_counters/columns", "task_counters", columns, []string{
			"user_id character varying(36) null=NO default=- identity=-",
			"seq bigint(-) null=NO default=0 identity=-",
			"total bigint(-) null=NO default=0 identity=-",
			"completed bigint(-) null=NO default=0 identity=-",
			"purged_seq bigint(-) null=NO default=0 identity=-",
		}},
		{"schema/task_counters/constraints", "task_counters", constraints, []string{
			"task_counters_pkey PRIMARY KEY (user_id)",
			"task_counters_users_task_counter FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
		}},
		{"schema/task_tombstones/columns", "task_tombstones", columns, []string{
			"id bigint(-) null=NO default=- identity=-",
			"change_seq bigint(-) null=NO default=- identity=-",
			"deleted_at timestamp with time zone(-) null=NO default=- identity=-",
			"user_id character varying(36) null=NO default=- identity=-",
		}},
		{"schema/task_tombstones/indexes", "task_tombstones", indexes, []string{
			"CREATE UNIQUE INDEX task_tombstones_pkey ON public.task_tombstones USING btree (id)",
			"CREATE INDEX tasktombstone_deleted_at ON public.task_tombstones USING btree (deleted_at)",
			"CREATE UNIQUE INDEX tasktombstone_user_id_change_seq ON public.task_tombstones USING btree (user_id, change_seq)",
		}},
		{"schema/task_tombstones/constraints", "task_tombstones", constraints, []string{
			"task_tombstones_pkey PRIMARY KEY (id)",
			"task_tombstones_users_task_tombstones FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := queryStrings(t, tg.db.SQL, tc.query, tc.table)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
