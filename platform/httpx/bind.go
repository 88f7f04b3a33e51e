package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/go-playground/validator/v10"
	"golang.org/x/text/unicode/norm"

	"todo/platform/apperr"
)

// MaxBody is the largest request body accepted, 1 MiB.
const MaxBody = 1 << 20

// Normalizer is implemented by request types that clean their input
// (trim, lower-case) before validation.
type Normalizer interface{ Normalize() }

// Checker is implemented by request types with rules the validator tags
// cannot say (for example "title may be absent but not null").
type Checker interface{ Check() []apperr.FieldError }

// Binder decodes and validates JSON request bodies. It owns the service's
// single validator, with JSON field names in its messages.
type Binder struct {
	v *validator.Validate
}

// NewBinder returns a Binder with the service's validation rules.
func NewBinder() *Binder {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	v.RegisterCustomTypeFunc(optionalValue, Optional[string]{}, Optional[bool]{})
	must(v.RegisterValidation("minbytes", func(fl validator.FieldLevel) bool {
		return len(fl.Field().String()) >= int(asInt(fl.Param()))
	}))
	must(v.RegisterValidation("maxbytes", func(fl validator.FieldLevel) bool {
		return len(fl.Field().String()) <= int(asInt(fl.Param()))
	}))
	must(v.RegisterValidation("emailaddr", func(fl validator.FieldLevel) bool {
		return ValidEmail(fl.Field().String())
	}))
	must(v.RegisterValidation("visibleascii", func(fl validator.FieldLevel) bool {
		return VisibleASCII(fl.Field().String())
	}))
	return &Binder{v: v}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func asInt(s string) int64 {
	var n int64
	for _, r := range s {
		n = n*10 + int64(r-'0')
	}
	return n
}

// JSON decodes the body into dst (Decode) and validates it (Validate).
func (b *Binder) JSON(c *gin.Context, dst any) error {
	if err := b.Decode(c, dst); err != nil {
		return err
	}
	return b.Validate(dst)
}

// Decode reads the body (at most MaxBody: 413), checks its Content-Type
// (415), and decodes it strictly into dst: malformed JSON, a value that is
// not an object, wrong types, unknown fields or trailing data are 400.
// Validation is left to Validate, so that a handler can answer 404 or 412
// before 422 as the contract orders them.
func (b *Binder) Decode(c *gin.Context, dst any) error {
	body, err := readBody(c.Request)
	if err != nil {
		return err
	}
	if !isJSON(c.GetHeader("Content-Type")) {
		return apperr.ErrMediaType
	}
	return DecodeJSON(body, dst)
}

// DecodeJSON decodes one JSON object strictly into dst.
func DecodeJSON(body []byte, dst any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return apperr.ErrBadRequest.WithDetail("the body must be a JSON object")
	}
	if !utf8.Valid(body) {
		return apperr.ErrBadRequest.WithDetail("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return apperr.ErrBadRequest.WithDetail("%s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.ErrBadRequest.WithDetail("unexpected data after the JSON object")
	}
	return nil
}

// Validate normalizes dst when it is a Normalizer, checks its validator
// tags and its Check method, and reports every broken rule as one 422.
func (b *Binder) Validate(dst any) error {
	if n, ok := dst.(Normalizer); ok {
		n.Normalize()
	}
	var fields []apperr.FieldError
	if err := b.v.Struct(dst); err != nil {
		var verrs validator.ValidationErrors
		if !errors.As(err, &verrs) {
			return fmt.Errorf("validate: %w", err)
		}
		for _, fe := range verrs {
			fields = append(fields, apperr.FieldError{Field: fieldPath(fe), Message: message(fe)})
		}
	}
	if ch, ok := dst.(Checker); ok {
		fields = append(fields, ch.Check()...)
	}
	fields = append(fields, nulFields(reflect.ValueOf(dst), "")...)
	if len(fields) > 0 {
		return apperr.Validation(fields...)
	}
	return nil
}

// nulFields names every string field of v that holds a NUL character.
// JSON carries NUL as \u0000; PostgreSQL cannot store it in text (SQLite
// can), so it is a 422 here rather than a 500 from one database and a
// stored value on the other. No field of the contract has a use for it.
func nulFields(v reflect.Value, prefix string) []apperr.FieldError {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			return []apperr.FieldError{{Field: prefix, Message: "must not contain NUL characters"}}
		}
	case reflect.Slice, reflect.Array:
		var out []apperr.FieldError
		for i := range v.Len() {
			out = append(out, nulFields(v.Index(i), prefix)...)
		}
		return out
	case reflect.Struct:
		t := v.Type()
		if strings.HasPrefix(t.Name(), "Optional[") {
			if f := v.FieldByName("Value"); f.IsValid() {
				return nulFields(f, prefix)
			}
		}
		var out []apperr.FieldError
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if sf.Anonymous {
				name = ""
			}
			if prefix != "" && name != "" {
				name = prefix + "." + name
			} else if name == "" {
				name = prefix
			}
			out = append(out, nulFields(v.Field(i), name)...)
		}
		return out
	}
	return nil
}

func fieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return fe.Field()
}

func message(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		if fe.Kind() == reflect.String {
			return "must not be empty"
		}
		return "is required"
	case "min":
		return "must be at least " + fe.Param() + " characters"
	case "max":
		return "must be at most " + fe.Param() + " characters"
	case "minbytes":
		return "must be at least " + fe.Param() + " bytes"
	case "maxbytes":
		return "must be at most " + fe.Param() + " bytes"
	case "emailaddr", "email":
		return "must be a valid email address"
	case "visibleascii":
		return "must be visible ASCII characters"
	case "oneof":
		return "must be one of " + fe.Param()
	default:
		return "is invalid (" + fe.Tag() + ")"
	}
}

func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBody {
		return nil, apperr.ErrTooLarge
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, apperr.ErrTooLarge
	case err != nil:
		return nil, apperr.ErrBadRequest.WithDetail("the body could not be read").Wrap(err)
	}
	return body, nil
}

func isJSON(contentType string) bool {
	if contentType == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("%s: must be a JSON %s", te.Field, jsonKind(te.Type))
		}
		return "the body must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "malformed JSON: unexpected end of input"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	default:
		return "malformed JSON"
	}
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && strings.HasPrefix(t.Name(), "Optional[") {
		if f, ok := t.FieldByName("Value"); ok {
			t = f.Type
		}
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64:
		return "number"
	case reflect.Slice:
		return "array"
	default:
		return "object"
	}
}

// ValidEmail reports whether s looks like a deliverable address: one @, a
// non-empty local part without spaces, and a domain with a dot in it whose
// labels are non-empty.
func ValidEmail(s string) bool {
	if !utf8.ValidString(s) || !norm.NFC.IsNormalString(s) {
		return false
	}
	for _, r := range s {
		if r > 127 && !visibleRune(r) {
			return false
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n<>()[],;:\\\"") {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if strings.IndexByte(local, '@') >= 0 || len(local) > 64 || !strings.Contains(domain, ".") {
		return false
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r > 127) {
				return false
			}
		}
	}
	for _, r := range local {
		if r < 0x21 || r == 0x7f || !utf8.ValidRune(r) {
			return false
		}
	}
	return true
}

// NormalizeEmail is the form an email is stored and compared in: trimmed of
// white space, lower-cased, and in Unicode normalisation form C, so that
// two spellings of one address (a precomposed é, or e and a combining
// accent) are one account.
func NormalizeEmail(s string) string {
	return norm.NFC.String(strings.ToLower(strings.TrimSpace(s)))
}

// visibleRune reports whether r, beyond ASCII, is a visible character an
// address may hold: a letter, mark, number, punctuation or symbol, and not
// one that renders as nothing (zero-width and bidirectional controls are
// format characters; fillers and variation selectors are default
// ignorable) or as a space (space separators are not symbols, but the
// blank braille pattern is one).
func visibleRune(r rune) bool {
	return r != brailleBlank &&
		unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) &&
		!unicode.In(r, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// brailleBlank is U+2800 BRAILLE PATTERN BLANK: a symbol (So) with no dots,
// drawn as white space.
const brailleBlank = '\u2800'

// VisibleASCII reports whether s is made only of visible ASCII (0x21–0x7E).
func VisibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
