package schema

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxRunes bounds a string by code points, the unit the API contract and
// PostgreSQL's varchar(n) count in; Ent's MaxLen counts bytes.
func maxRunes(n int) func(string) error {
	return func(s string) error {
		if utf8.RuneCountInString(s) > n {
			return fmt.Errorf("longer than %d characters", n)
		}
		return nil
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
