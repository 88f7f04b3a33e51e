package httpx

import (
	"encoding/json"
	"testing"
)

func TestOptionalUnmarshal(t *testing.T) {
	type body struct {
		D Optional[string] `json:"d"`
	}
	cases := []struct {
		name              string
		in                string
		set, null, prsent bool
		value             string
	}{
		{"absent", `{}`, false, false, false, ""},
		{"null", `{"d":null}`, true, true, false, ""},
		{"value", `{"d":"x"}`, true, false, true, "x"},
		{"null-then-value", `{"d":null,"d":"a"}`, true, false, true, "a"},
		{"value-then-null", `{"d":"a","d":null}`, true, true, false, "a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b body
			if err := json.Unmarshal([]byte(tc.in), &b); err != nil {
				t.Fatal(err)
			}
			if b.D.Set != tc.set || b.D.Null != tc.null || b.D.Present() != tc.prsent || (tc.prsent && b.D.Value != tc.value) {
				t.Errorf("got %+v, want set=%v null=%v present=%v value=%q", b.D, tc.set, tc.null, tc.prsent, tc.value)
			}
		})
	}
}
