package httpx

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// Optional is a JSON field whose absence and null mean different things, as
// in PATCH bodies: absent leaves a value unchanged, null clears it.
type Optional[T any] struct {
	Set   bool // the field was present
	Null  bool // it was present as null
	Value T    // its value when present and not null
}

// UnmarshalJSON records that the field was present and whether it was null.
func (o *Optional[T]) UnmarshalJSON(data []byte) error {
	// A repeated key (the last one wins, as encoding/json decides) must not
	// keep the null of an earlier one.
	o.Set, o.Null = true, false
	if bytes.Equal(data, []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(data, &o.Value)
}

// Present reports whether the field carries a non-null value.
func (o Optional[T]) Present() bool { return o.Set && !o.Null }

// optionalValue lets validator tags apply to an Optional's value when it is
// present and not null; absent and null skip the tags (use omitempty).
func optionalValue(v reflect.Value) any {
	set := v.FieldByName("Set").Bool()
	null := v.FieldByName("Null").Bool()
	if !set || null {
		return nil
	}
	return v.FieldByName("Value").Interface()
}
