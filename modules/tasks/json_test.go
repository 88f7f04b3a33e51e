package tasks

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"todo/ent/task"
	"todo/platform/httpx"
)

// stdJSON is v as the service wrote it before AppendJSON: encoding/json
// with HTML escaping off, without the trailing newline.
func stdJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendJSONString(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", "", `""`},
		{"plain", "Buy milk", `"Buy milk"`},
		{"quote-backslash", `a"b\c`, `"a\"b\\c"`},
		{"short-escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"other-controls", "\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"del-raw", "\x7f", "\"\x7f\""},
		{"html-raw", "<a href='x'>&</a>", `"<a href='x'>&</a>"`},
		{"non-ascii-raw", "é😀中", `"é😀中"`},
		{"line-separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"invalid-utf8", "a\xffb\xc3", `"a\ufffdb\ufffd"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendJSONString([]byte("x"), tc.in))
			if got != "x"+tc.want {
				t.Fatalf("got %s, want x%s", got, tc.want)
			}
			if std := string(stdJSON(t, tc.in)); std != tc.want {
				t.Fatalf("encoding/json writes %s, the case wants %s", std, tc.want)
			}
		})
	}
}

// TestAppendJSONMatchesEncodingJSON encodes many random tasks and pages both
// ways: AppendJSON must write exactly the bytes of encoding/json.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 3000 {
		tk := randomTask(r)
		want := stdJSON(t, refJSON(tk))
		got := toTaskResponse(tk).AppendJSON(nil)
		if !bytes.Equal(got, want) || !json.Valid(got) {
			t.Fatalf("task %d:\n got %s\nwant %s", i, got, want)
		}
	}
	for i := range 300 {
		p := Page{Items: make([]Task, r.IntN(4))}
		for j := range p.Items {
			p.Items[j] = randomTask(r)
		}
		if r.IntN(2) == 0 {
			p.NextCursor = randomString(r, 40)
		}
		lr := toListResponse(p)
		if i%50 == 0 {
			lr.Items = nil
		}
		want := stdJSON(t, refList(lr))
		got := lr.AppendJSON(nil)
		if !bytes.Equal(got, want) || !json.Valid(got) {
			t.Fatalf("page %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestChangesJSON checks the change feed's AppendJSON against
// encoding/json on the same page written out as maps.
func TestChangesJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for i := range 300 {
		p := ChangesPage{NextToken: randomString(r, 66), HasMore: r.IntN(2) == 0}
		var std []any
		for range r.IntN(5) {
			tk := randomTask(r)
			if r.IntN(3) == 0 {
				at := randomTime(r)
				p.Changes = append(p.Changes, Change{Deleted: true, Task: Task{ID: tk.ID}, DeletedAt: at})
				std = append(std, map[string]any{"op": "delete", "id": tk.ID, "deleted_at": timestamp(at)})
				continue
			}
			p.Changes = append(p.Changes, Change{Task: tk})
			std = append(std, struct {
				Op   string  `json:"op"`
				Task refJSON `json:"task"`
			}{"upsert", refJSON(tk)})
		}
		if std == nil {
			std = []any{}
		}
		want := stdJSON(t, struct {
			Changes   []any  `json:"changes"`
			NextToken string `json:"next_token"`
			HasMore   bool   `json:"has_more"`
		}{std, p.NextToken, p.HasMore})
		got := toChangesResponse(p).AppendJSON(nil)
		if !json.Valid(got) || !jsonEqual(t, got, want) {
			t.Fatalf("page %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// jsonEqual compares two JSON documents as values (maps have no order).
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

func randomTask(r *rand.Rand) Task {
	tk := Task{
		ID:        r.Int64(),
		UserID:    randomString(r, 36),
		Title:     randomString(r, 200),
		Completed: r.IntN(2) == 0,
		CreatedAt: randomTime(r),
		UpdatedAt: randomTime(r),
	}
	if r.IntN(2) == 0 {
		d := randomString(r, 300)
		tk.Description = &d
	}
	if r.IntN(2) == 0 {
		ct := randomTime(r)
		tk.CompletedAt = &ct
	}
	return tk
}

// randomString is valid UTF-8 of up to n code points, drawn mostly from the
// characters an encoder treats specially.
func randomString(r *rand.Rand, n int) string {
	special := []rune{'"', '\\', '/', '<', '>', '&', '\b', '\f', '\n', '\r', '\t', 0, 0x1f, 0x7f, 'é', '中',
		'😀', '\u2028', '\u2029', '\ufffd', '\ufeff', utf8.MaxRune}
	var sb strings.Builder
	for range r.IntN(n + 1) {
		switch r.IntN(4) {
		case 0:
			sb.WriteRune(special[r.IntN(len(special))])
		case 1:
			sb.WriteRune(r.Int32N(utf8.RuneSelf))
		case 2:
			c := r.Int32N(utf8.MaxRune + 1)
			if !utf8.ValidRune(c) {
				c = 'x'
			}
			sb.WriteRune(c)
		default:
			sb.WriteByte(letters[r.IntN(len(letters))])
		}
	}
	return sb.String()
}

const letters = "abcdefghijklmnopqrstuvwxyz"

func randomTime(r *rand.Rand) time.Time {
	t := time.Unix(r.Int64N(1<<35)-1<<34, r.Int64N(1e9))
	return t.In(time.FixedZone("", (r.IntN(49)-24)*1800))
}

// FuzzTaskJSON compares AppendJSON with encoding/json on arbitrary strings,
// invalid UTF-8 included.
func FuzzTaskJSON(f *testing.F) {
	f.Add(int64(1), "Buy milk", "2 l", true, int64(1767225600123456), "cursor")
	f.Add(int64(-5), "a\"b\\c\n\x00\u2028<>&", "", false, int64(0), "")
	f.Add(int64(1<<62), "\xff\xfe😀", "\x7f\t", true, int64(-1), "\xc3")
	f.Fuzz(func(t *testing.T, id int64, title, desc string, done bool, micros int64, cursor string) {
		at := time.UnixMicro(micros)
		tk := Task{ID: id, UserID: cursor, Title: title, Completed: done, CreatedAt: at, UpdatedAt: at}
		if desc != "" {
			tk.Description = &desc
		}
		if done {
			tk.CompletedAt = &at
		}
		if got, want := httpx.AppendTime(nil, at), at.UTC().AppendFormat(nil, httpx.TimeLayout); !bytes.Equal(got, want) {
			t.Fatalf("timestamp: got %s, want %s", got, want)
		}
		got := toTaskResponse(tk).AppendJSON(nil)
		if want := stdJSON(t, refJSON(tk)); !bytes.Equal(got, want) || !json.Valid(got) {
			t.Fatalf("task:\n got %s\nwant %s", got, want)
		}
		lr := toListResponse(Page{Items: []Task{tk, tk}, NextCursor: cursor})
		if got, want := lr.AppendJSON(nil), stdJSON(t, refList(lr)); !bytes.Equal(got, want) {
			t.Fatalf("page:\n got %s\nwant %s", got, want)
		}
	})
}

// refJSON writes a task the slow way, as an independent reference for
// appendTaskJSON: by reflection over Task, each field in its order, keyed
// by its name in snake_case, its value as encoding/json writes it (a
// timestamp in the contract's layout, a nil pointer as null).
type refJSON Task

// MarshalJSON implements json.Marshaler.
func (r refJSON) MarshalJSON() ([]byte, error) {
	v := reflect.ValueOf(Task(r))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i := range v.NumField() {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`"` + snakeCase(v.Type().Field(i).Name) + `":`)
		f := v.Field(i)
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				buf.WriteString("null")
				continue
			}
			f = f.Elem()
		}
		val := f.Interface()
		if tm, ok := val.(time.Time); ok {
			val = timestamp(tm)
		}
		if err := enc.Encode(val); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// snakeCase turns a Go field name into its column's: UserID → user_id.
func snakeCase(name string) string {
	var b strings.Builder
	for i, r := range name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 && !(name[i-1] >= 'A' && name[i-1] <= 'Z') {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// refList is a list page with refJSON items.
func refList(lr listResponse) any {
	var items []refJSON
	if lr.Items != nil {
		items = make([]refJSON, len(lr.Items))
		for i, it := range lr.Items {
			items[i] = refJSON(it)
		}
	}
	return struct {
		Items      []refJSON `json:"items"`
		NextCursor *string   `json:"next_cursor"`
	}{items, lr.NextCursor}
}

// TestFieldsCoverSchema holds taskFields to the Ent schema and to Task:
// every column of tasks is a field or internal, and the fields follow
// Task's, one for one and in order (the JSON's order).
func TestFieldsCoverSchema(t *testing.T) {
	described := map[string]bool{}
	for _, f := range taskFields {
		described[f.column] = true
	}
	for _, c := range internalColumns {
		described[c] = true
	}
	for _, c := range task.Columns {
		if !described[c] {
			t.Errorf("column %q of the Ent schema is not in taskFields (fields.go) nor internalColumns", c)
		}
		delete(described, c)
	}
	for c := range described {
		t.Errorf("taskFields names %q, which the Ent schema does not have", c)
	}
	rt := reflect.TypeFor[Task]()
	if rt.NumField() != len(taskFields) {
		t.Fatalf("Task has %d fields, taskFields %d: add the new one to both, at the same place", rt.NumField(), len(taskFields))
	}
	for i, f := range taskFields {
		if want := snakeCase(rt.Field(i).Name); f.column != want {
			t.Errorf("taskFields[%d] is %q; Task's field %d is %s (%q): keep them in the same order", i, f.column, i, rt.Field(i).Name, want)
		}
	}
	for _, p := range patchable {
		if !described[p.name] && !slices.ContainsFunc(taskFields, func(f taskField) bool { return f.column == p.name }) {
			t.Errorf("patchable names %q, which is not a field", p.name)
		}
	}
}

// BenchmarkEncodeList compares the two encoders on a page of 20 tasks.
//
//	go test -run '^$' -bench BenchmarkEncodeList -benchmem ./modules/tasks/
func BenchmarkEncodeList(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	p := Page{Items: make([]Task, 20), NextCursor: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
	for i := range p.Items {
		d := "a plain description of a task, as most are"
		p.Items[i] = Task{ID: int64(1000 + i), UserID: "0193e7a1-7c4e-7b5e-9c1e-2f7f3c5d9a10", Title: "task " + letters[r.IntN(len(letters)):][:1],
			Description: &d, Completed: i%3 == 0, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
		if p.Items[i].Completed {
			at := time.Now().UTC()
			p.Items[i].CompletedAt = &at
		}
	}
	lr := toListResponse(p)
	b.Run("encoding-json", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(refList(lr)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append-json", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = lr.AppendJSON(buf[:0])
		}
	})
}
