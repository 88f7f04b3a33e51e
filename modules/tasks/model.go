package tasks

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"todo/platform/apperr"
	"todo/platform/httpx"
)

// Limits of the contract's validation table, in code points.
const (
	maxTitle       = 200
	maxDescription = 1000
)

// Task is a task as the service sees it.
type Task struct {
	ID          int64
	UserID      string
	Title       string
	Description *string
	Completed   bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
}

// Status selects which tasks a list shows.
type Status string

// The statuses of GET /tasks.
const (
	StatusAll       Status = "all"
	StatusPending   Status = "pending"
	StatusCompleted Status = "completed"
)

// Stats counts a user's tasks.
type Stats struct {
	Total     int64 `json:"total"`
	Pending   int64 `json:"pending"`
	Completed int64 `json:"completed"`
}

// Page is one keyset page of a list.
type Page struct {
	Items      []Task
	NextCursor string // empty on the last page
}

// Change is one entry of the change feed: a task's current state, or its
// deletion (Deleted, with only Task.ID set).
type Change struct {
	Task      Task
	Deleted   bool
	DeletedAt time.Time
}

// ChangesPage is one page of the change feed.
type ChangesPage struct {
	Changes   []Change
	NextToken string
	HasMore   bool
}

// CreateInput is a validated new task.
type CreateInput struct {
	Title       string
	Description *string
}

// UpdateInput is a PATCH: each field absent (unchanged), null or a value.
type UpdateInput struct {
	Title       httpx.Optional[string]
	Description httpx.Optional[string]
	Completed   httpx.Optional[bool]
}

// task is the new task the input describes, for the insert.
func (in CreateInput) task(userID string, now time.Time) Task {
	return Task{UserID: userID, Title: in.Title, Description: in.Description, CreatedAt: now, UpdatedAt: now}
}

type createTaskRequest struct {
	Title       httpx.Optional[string] `json:"title"`
	Description httpx.Optional[string] `json:"description"`
}

type updateTaskRequest struct {
	Title       httpx.Optional[string] `json:"title"`
	Description httpx.Optional[string] `json:"description"`
	Completed   httpx.Optional[bool]   `json:"completed"`
}

// input validates a create request and returns it normalised.
func (r createTaskRequest) input() (CreateInput, []apperr.FieldError) {
	var fields []apperr.FieldError
	title, msg := checkTitle(r.Title)
	if msg != "" {
		fields = append(fields, apperr.FieldError{Field: "title", Message: msg})
	}
	desc, msg := checkDescription(r.Description)
	if msg != "" {
		fields = append(fields, apperr.FieldError{Field: "description", Message: msg})
	}
	return CreateInput{Title: title, Description: desc}, fields
}

func (r updateTaskRequest) input() UpdateInput {
	return UpdateInput(r)
}

// validate checks the fields a PATCH sets (patchable) and returns it
// normalised: the title trimmed, an empty description turned into null.
func (in UpdateInput) validate() (UpdateInput, []apperr.FieldError) {
	var fields []apperr.FieldError
	for _, f := range patchable {
		if !f.named(&in) {
			continue
		}
		if msg := f.check(&in); msg != "" {
			fields = append(fields, apperr.FieldError{Field: f.name, Message: msg})
		}
	}
	return in, fields
}

// setsAny reports whether a PATCH names any field.
func (in UpdateInput) setsAny() bool {
	for _, f := range patchable {
		if f.named(&in) {
			return true
		}
	}
	return false
}

// checkTitle trims a title of Unicode white space and checks its length in
// code points; the message is empty when it is valid.
func checkTitle(o httpx.Optional[string]) (string, string) {
	switch {
	case !o.Set:
		return "", "is required"
	case o.Null:
		return "", "must not be null"
	}
	t := strings.TrimSpace(o.Value)
	switch n := utf8.RuneCountInString(t); {
	case n == 0:
		return "", "must not be empty"
	case n > maxTitle:
		return "", "must be at most 200 characters"
	case strings.IndexByte(t, 0) >= 0:
		return "", "must not contain NUL characters"
	}
	return t, ""
}

// checkDescription keeps a description as sent; absent, null and "" all
// mean none.
func checkDescription(o httpx.Optional[string]) (*string, string) {
	if !o.Present() || o.Value == "" {
		return nil, ""
	}
	switch {
	case utf8.RuneCountInString(o.Value) > maxDescription:
		return nil, "must be at most 1000 characters"
	case strings.IndexByte(o.Value, 0) >= 0:
		return nil, "must not contain NUL characters"
	}
	d := o.Value
	return &d, ""
}

// timestamp marshals as the contract's timestamp.
type timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t timestamp) MarshalJSON() ([]byte, error) {
	return t.AppendJSON(make([]byte, 0, len(httpx.TimeLayout)+2)), nil
}

// AppendJSON appends the timestamp as a JSON string.
func (t timestamp) AppendJSON(b []byte) []byte {
	b = append(b, '"')
	b = httpx.AppendTime(b, time.Time(t))
	return append(b, '"')
}

// taskResponse is a task as the contract's Task object; its JSON is
// written by taskFields (fields.go).
type taskResponse Task

// AppendJSON implements httpx.JSONAppender: the bytes encoding/json writes
// for the task (HTML escaping off), without reflection.
func (r taskResponse) AppendJSON(b []byte) []byte {
	return appendTaskJSON(b, (*Task)(&r))
}

type listResponse struct {
	Items      []taskResponse `json:"items"`
	NextCursor *string        `json:"next_cursor"`
}

// AppendJSON implements httpx.JSONAppender: the bytes encoding/json writes
// for r (HTML escaping off), without reflection.
func (r listResponse) AppendJSON(b []byte) []byte {
	b = append(b, `{"items":`...)
	if r.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Items {
			if i > 0 {
				b = append(b, ',')
			}
			// A pointer into the slice: a copy would escape to the heap.
			b = appendTaskJSON(b, (*Task)(&r.Items[i]))
		}
		b = append(b, ']')
	}
	b = append(b, `,"next_cursor":`...)
	if r.NextCursor == nil {
		return append(b, "null}"...)
	}
	b = appendJSONString(b, *r.NextCursor)
	return append(b, '}')
}

func toTaskResponse(t Task) taskResponse { return taskResponse(t) }

func toListResponse(p Page) listResponse {
	items := make([]taskResponse, len(p.Items))
	for i, t := range p.Items {
		items[i] = toTaskResponse(t)
	}
	r := listResponse{Items: items}
	if p.NextCursor != "" {
		r.NextCursor = &p.NextCursor
	}
	return r
}

// changesResponse is a page of the change feed: GET /tasks/changes.
type changesResponse struct {
	Changes   []changeResponse
	NextToken string
	HasMore   bool
}

// changeResponse is one change: {"op":"upsert","task":…} or
// {"op":"delete","id":…,"deleted_at":…}.
type changeResponse struct {
	Task      *taskResponse
	ID        int64
	DeletedAt timestamp
}

// AppendJSON implements httpx.JSONAppender.
func (r changesResponse) AppendJSON(b []byte) []byte {
	b = append(b, `{"changes":[`...)
	for i, c := range r.Changes {
		if i > 0 {
			b = append(b, ',')
		}
		b = c.AppendJSON(b)
	}
	b = append(b, `],"next_token":`...)
	b = appendJSONString(b, r.NextToken)
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, r.HasMore)
	return append(b, '}')
}

// AppendJSON appends the change as a JSON object.
func (c changeResponse) AppendJSON(b []byte) []byte {
	if c.Task != nil {
		b = append(b, `{"op":"upsert","task":`...)
		b = appendTaskJSON(b, (*Task)(c.Task))
		return append(b, '}')
	}
	b = append(b, `{"op":"delete","id":`...)
	b = strconv.AppendInt(b, c.ID, 10)
	b = append(b, `,"deleted_at":`...)
	b = c.DeletedAt.AppendJSON(b)
	return append(b, '}')
}

func toChangesResponse(p ChangesPage) changesResponse {
	r := changesResponse{Changes: make([]changeResponse, len(p.Changes)), NextToken: p.NextToken, HasMore: p.HasMore}
	tasks := make([]taskResponse, len(p.Changes))
	for i, c := range p.Changes {
		if c.Deleted {
			r.Changes[i] = changeResponse{ID: c.Task.ID, DeletedAt: timestamp(c.DeletedAt)}
			continue
		}
		tasks[i] = toTaskResponse(c.Task)
		r.Changes[i] = changeResponse{Task: &tasks[i]}
	}
	return r
}
