package tasks

import (
	stdsql "database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"todo/ent/task"
	"todo/platform/httpx"
)

// The columns of tasks as the module sees them, described once. taskFields
// drives the column list of every statement that returns tasks, the scan of
// their rows, the INSERT of a new task, the update of the locked path and
// the JSON of a task (in this order, which is the order of the JSON keys);
// patchable drives what a PATCH may set. A column of the Ent schema that is
// neither here nor in internalColumns fails TestFieldsCoverSchema.
//
// A field is one line made by a constructor of its Go type: the column's
// name comes from Ent's generated constants and is also the JSON key.
var taskFields = []taskField{
	int64Field(task.FieldID, func(t *Task) *int64 { return &t.ID }).serverSet(),
	stringField(task.FieldUserID, func(t *Task) *string { return &t.UserID }),
	stringField(task.FieldTitle, func(t *Task) *string { return &t.Title }),
	nullStringField(task.FieldDescription, func(t *Task) **string { return &t.Description }),
	boolField(task.FieldCompleted, func(t *Task) *bool { return &t.Completed }),
	timeField(task.FieldCreatedAt, func(t *Task) *time.Time { return &t.CreatedAt }),
	timeField(task.FieldUpdatedAt, func(t *Task) *time.Time { return &t.UpdatedAt }),
	nullTimeField(task.FieldCompletedAt, func(t *Task) **time.Time { return &t.CompletedAt }),
}

// internalColumns are the columns of tasks that clients never see: the
// change feed's bookkeeping, read and written by the statements that need it.
var internalColumns = []string{task.FieldChangeSeq}

// patchable are the fields a PATCH may set, in the order their validation
// errors are listed. Each names its UpdateInput member, its check (which
// normalises the value) and the Task field it sets; completed has rules of
// its own (completed_at), which applyUpdate and patchSQL add.
var patchable = []patchField{
	patchValue(task.FieldTitle, func(in *UpdateInput) *httpx.Optional[string] { return &in.Title },
		checkTitle, func(t *Task) *string { return &t.Title }),
	patchNullable(task.FieldDescription, func(in *UpdateInput) *httpx.Optional[string] { return &in.Description },
		checkDescription, func(t *Task) **string { return &t.Description }),
	patchValue(task.FieldCompleted, func(in *UpdateInput) *httpx.Optional[bool] { return &in.Completed },
		checkNotNull[bool], func(t *Task) *bool { return &t.Completed }).special(),
}

// taskColumns is the column list of a task row, quoted, in taskFields order.
var taskColumns = func() string {
	cols := make([]string, len(taskFields))
	for i, f := range taskFields {
		cols[i] = `"` + f.column + `"`
	}
	return strings.Join(cols, ", ")
}()

// cellKind is the database type of a column, which picks the member of a
// cell a scan writes.
type cellKind uint8

const (
	kindInt cellKind = iota
	kindString
	kindBool
	kindTime
)

// cell receives one column of a scanned row. Every member accepts NULL, so
// the change feed's rows, whose tombstones and counter fill most task
// columns with NULL, scan the same way.
type cell struct {
	i stdsql.NullInt64
	s stdsql.NullString
	b stdsql.NullBool
	t stdsql.NullTime
	// pgx's own types, which a scan of pgx's rows fills without going
	// through database/sql's conversions (an allocation or two per column);
	// native copies them into the members above.
	pi pgtype.Int8
	ps pgtype.Text
	pb pgtype.Bool
	pt pgtype.Timestamptz
}

// nativeDest is dest for pgx's rows.
func (c *cell) nativeDest(k cellKind) any {
	switch k {
	case kindInt:
		return &c.pi
	case kindString:
		return &c.ps
	case kindBool:
		return &c.pb
	}
	return &c.pt
}

// native moves what a scan into nativeDest read into the members set reads.
func (c *cell) native(k cellKind) {
	switch k {
	case kindInt:
		c.i = stdsql.NullInt64{Int64: c.pi.Int64, Valid: c.pi.Valid}
	case kindString:
		c.s = stdsql.NullString{String: c.ps.String, Valid: c.ps.Valid}
	case kindBool:
		c.b = stdsql.NullBool{Bool: c.pb.Bool, Valid: c.pb.Valid}
	default:
		c.t = stdsql.NullTime{Time: c.pt.Time, Valid: c.pt.Valid}
	}
}

func (c *cell) dest(k cellKind) any {
	switch k {
	case kindInt:
		return &c.i
	case kindString:
		return &c.s
	case kindBool:
		return &c.b
	}
	return &c.t
}

// taskField is one column of tasks: how it is scanned, encoded and written.
type taskField struct {
	column string
	kind   cellKind
	// key is what precedes the value in a task's JSON: `{"id":` for the
	// first field, `,"title":` for the others.
	key string
	// set stores a scanned cell in the task; a NULL leaves the zero value.
	set func(t *Task, c *cell)
	// appendJSON appends the field's value as JSON.
	appendJSON func(b []byte, t *Task) []byte
	// value is the field's value as an SQL parameter (nil: NULL).
	value func(t *Task) any
	// server is true for a column the database fills on insert (id).
	server bool
}

func (f taskField) serverSet() taskField { f.server = true; return f }

func int64Field(col string, p func(*Task) *int64) taskField {
	return taskField{column: col, kind: kindInt,
		set:        func(t *Task, c *cell) { *p(t) = c.i.Int64 },
		appendJSON: func(b []byte, t *Task) []byte { return strconv.AppendInt(b, *p(t), 10) },
		value:      func(t *Task) any { return *p(t) },
	}
}

func stringField(col string, p func(*Task) *string) taskField {
	return taskField{column: col, kind: kindString,
		set:        func(t *Task, c *cell) { *p(t) = c.s.String },
		appendJSON: func(b []byte, t *Task) []byte { return appendJSONString(b, *p(t)) },
		value:      func(t *Task) any { return *p(t) },
	}
}

func nullStringField(col string, p func(*Task) **string) taskField {
	return taskField{column: col, kind: kindString,
		set: func(t *Task, c *cell) {
			if c.s.Valid {
				v := c.s.String
				*p(t) = &v
			}
		},
		appendJSON: func(b []byte, t *Task) []byte {
			if v := *p(t); v != nil {
				return appendJSONString(b, *v)
			}
			return append(b, "null"...)
		},
		value: func(t *Task) any {
			if v := *p(t); v != nil {
				return *v
			}
			return nil
		},
	}
}

func boolField(col string, p func(*Task) *bool) taskField {
	return taskField{column: col, kind: kindBool,
		set:        func(t *Task, c *cell) { *p(t) = c.b.Bool },
		appendJSON: func(b []byte, t *Task) []byte { return strconv.AppendBool(b, *p(t)) },
		value:      func(t *Task) any { return *p(t) },
	}
}

func timeField(col string, p func(*Task) *time.Time) taskField {
	return taskField{column: col, kind: kindTime,
		set:        func(t *Task, c *cell) { *p(t) = c.t.Time.UTC() },
		appendJSON: func(b []byte, t *Task) []byte { return timestamp(*p(t)).AppendJSON(b) },
		value:      func(t *Task) any { return *p(t) },
	}
}

func nullTimeField(col string, p func(*Task) **time.Time) taskField {
	return taskField{column: col, kind: kindTime,
		set: func(t *Task, c *cell) {
			if c.t.Valid {
				v := c.t.Time.UTC()
				*p(t) = &v
			}
		},
		appendJSON: func(b []byte, t *Task) []byte {
			if v := *p(t); v != nil {
				return timestamp(*v).AppendJSON(b)
			}
			return append(b, "null"...)
		},
		value: func(t *Task) any {
			if v := *p(t); v != nil {
				return *v
			}
			return nil
		},
	}
}

func init() {
	for i := range taskFields {
		sep := ","
		if i == 0 {
			sep = "{"
		}
		taskFields[i].key = sep + `"` + taskFields[i].column + `":`
	}
}

// taskScanner scans rows of taskColumns (after lead leading columns, and
// before any extra ones) into Tasks, reusing its cells row after row.
type taskScanner struct {
	cells []cell
	dest  []any // for database/sql's rows
	// native is dest for pgx's rows (database.DB.Query on PostgreSQL).
	native []any
	lead   int
}

// newTaskScanner prepares the destinations of a row: lead values first
// (leading columns, such as the feed's kind), then the task's columns,
// then extra.
func newTaskScanner(lead []any, extra ...any) *taskScanner {
	s := &taskScanner{cells: make([]cell, len(taskFields)), lead: len(lead)}
	n := len(lead) + len(taskFields) + len(extra)
	s.dest, s.native = make([]any, 0, n), make([]any, 0, n)
	s.dest, s.native = append(s.dest, lead...), append(s.native, lead...)
	for i, f := range taskFields {
		s.dest = append(s.dest, s.cells[i].dest(f.kind))
		s.native = append(s.native, s.cells[i].nativeDest(f.kind))
	}
	s.dest, s.native = append(s.dest, extra...), append(s.native, extra...)
	return s
}

// scanner is a result's current row.
type scanner interface{ Scan(dest ...any) error }

// scan reads the current row into a Task.
func (s *taskScanner) scan(rows scanner) (Task, error) {
	_, viaSQL := rows.(*stdsql.Rows)
	dest := s.native
	if viaSQL {
		dest = s.dest
	}
	if err := rows.Scan(dest...); err != nil {
		return Task{}, fmt.Errorf("scan task: %w", err)
	}
	var t Task
	for i, f := range taskFields {
		if !viaSQL {
			s.cells[i].native(f.kind)
		}
		f.set(&t, &s.cells[i])
	}
	return t, nil
}

// appendTaskJSON appends the task as the contract's Task object: the bytes
// encoding/json writes for it (HTML escaping off), without reflection.
func appendTaskJSON(b []byte, t *Task) []byte {
	for _, f := range taskFields {
		b = append(b, f.key...)
		b = f.appendJSON(b, t)
	}
	return append(b, '}')
}

// insertSQL inserts a task from the values of its fields (all but those
// the database fills) and its change number, and returns it.
var insertSQL = func() string {
	cols, params := insertColumns(1)
	return `INSERT INTO "tasks" (` + cols + `, "` + task.FieldChangeSeq + `") VALUES (` + params +
		`, $` + strconv.Itoa(len(taskFields)-serverFields+1) + `) RETURNING ` + taskColumns
}()

// serverFields is how many fields the database fills.
var serverFields = func() (n int) {
	for _, f := range taskFields {
		if f.server {
			n++
		}
	}
	return n
}()

// insertColumns are the columns an INSERT of a task writes, but the change
// number, and their placeholders from $first on.
func insertColumns(first int) (cols, params string) {
	var c, p []string
	for _, f := range taskFields {
		if f.server {
			continue
		}
		c = append(c, `"`+f.column+`"`)
		p = append(p, "$"+strconv.Itoa(first+len(p)))
	}
	return strings.Join(c, ", "), strings.Join(p, ", ")
}

// insertArgs are the parameters of insertSQL for t and its change number.
func insertArgs(t *Task, seq int64) []any {
	args := make([]any, 0, len(taskFields)+1)
	for _, f := range taskFields {
		if !f.server {
			args = append(args, f.value(t))
		}
	}
	return append(args, seq)
}

// updateSQL writes every field a client can change (all but the id, the
// owner and created_at) and the change number: the locked path's write,
// after applyUpdate or applyCompleted decided the task's next state.
var updateSQL, updateFields = func() (string, []taskField) {
	var set []string
	var fields []taskField
	for _, f := range taskFields {
		switch f.column {
		case task.FieldID, task.FieldUserID, task.FieldCreatedAt:
			continue
		}
		fields = append(fields, f)
		set = append(set, `"`+f.column+`" = $`+strconv.Itoa(len(set)+3))
	}
	set = append(set, `"`+task.FieldChangeSeq+`" = $`+strconv.Itoa(len(set)+3))
	return `UPDATE "tasks" SET ` + strings.Join(set, ", ") + ` WHERE "id" = $1 AND "user_id" = $2`, fields
}()

// updateArgs are the parameters of updateSQL for t and its change number.
func updateArgs(t *Task, seq int64) []any {
	args := make([]any, 0, len(updateFields)+3)
	args = append(args, t.ID, t.UserID)
	for _, f := range updateFields {
		args = append(args, f.value(t))
	}
	return append(args, seq)
}

// patchField is a field a PATCH may set.
type patchField struct {
	name string // the JSON key and the column
	// named reports whether the PATCH names the field (absent: unchanged).
	named func(in *UpdateInput) bool
	// check validates the field in place, normalising it; the message is
	// empty when it is valid.
	check func(in *UpdateInput) string
	// apply sets the field on t; value is its SQL parameter (nil: NULL).
	apply func(t *Task, in *UpdateInput)
	value func(in *UpdateInput) any
	// equal reports whether a and b agree on the field.
	equal func(a, b *Task) bool
	// own is true for a field with rules of its own in applyUpdate and
	// patchSQL (completed), which skip it.
	own bool
}

func (f patchField) special() patchField { f.own = true; return f }

// patchValue is a field that cannot be null: check gets the Optional as
// sent (set) and returns the value to store or a message.
func patchValue[T comparable](name string, opt func(*UpdateInput) *httpx.Optional[T],
	check func(httpx.Optional[T]) (T, string), field func(*Task) *T,
) patchField {
	return patchField{name: name,
		named: func(in *UpdateInput) bool { return opt(in).Set },
		check: func(in *UpdateInput) string {
			o := opt(in)
			v, msg := check(*o)
			o.Value = v
			return msg
		},
		apply: func(t *Task, in *UpdateInput) { *field(t) = opt(in).Value },
		value: func(in *UpdateInput) any { return opt(in).Value },
		equal: func(a, b *Task) bool { return *field(a) == *field(b) },
	}
}

// patchNullable is a field that may be null: check returns the value to
// store, nil for null.
func patchNullable[T comparable](name string, opt func(*UpdateInput) *httpx.Optional[T],
	check func(httpx.Optional[T]) (*T, string), field func(*Task) **T,
) patchField {
	return patchField{name: name,
		named: func(in *UpdateInput) bool { return opt(in).Set },
		check: func(in *UpdateInput) string {
			o := opt(in)
			v, msg := check(*o)
			*o = httpx.Optional[T]{Set: true, Null: v == nil}
			if v != nil {
				o.Value = *v
			}
			return msg
		},
		apply: func(t *Task, in *UpdateInput) {
			*field(t) = nil
			if o := opt(in); !o.Null {
				v := o.Value
				*field(t) = &v
			}
		},
		value: func(in *UpdateInput) any {
			if o := opt(in); !o.Null {
				return o.Value
			}
			return nil
		},
		equal: func(a, b *Task) bool { return equalPtr(*field(a), *field(b)) },
	}
}

// checkNotNull accepts any value but null.
func checkNotNull[T any](o httpx.Optional[T]) (T, string) {
	if o.Null {
		return o.Value, "must not be null"
	}
	return o.Value, ""
}
