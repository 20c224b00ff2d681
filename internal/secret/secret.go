// Package secret resolves secret references (env:NAME, file:PATH) to values
// that redact themselves wherever they could be printed, logged or encoded.
package secret

import (
	"fmt"
	"log/slog"
)

// redacted is what a Value shows instead of its content.
const redacted = "[REDACTED]"

// Value holds a secret. Its zero value is the empty secret. Every way Go has of
// turning a value into text (fmt verbs, JSON, slog) shows "[REDACTED]"; only
// Reveal returns the content, and it should be called at the one place the
// secret is sent on.
type Value struct {
	// s is unexported so that reflection-based encoders cannot reach it.
	s string
}

// New wraps s in a Value.
func New(s string) Value { return Value{s: s} }

// Reveal returns the secret itself. Call it only where the secret leaves the
// process towards its rightful recipient (e.g. the OAuth token endpoint).
func (v Value) Reveal() string { return v.s }

// IsZero reports whether the secret is empty.
func (v Value) IsZero() bool { return v.s == "" }

// String implements fmt.Stringer.
func (v Value) String() string { return redacted }

// GoString implements fmt.GoStringer, for %#v.
func (v Value) GoString() string { return "secret.Value(" + redacted + ")" }

// Format implements fmt.Formatter so that every verb (%s %v %q %x %d …) redacts.
func (v Value) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(v.GoString()))
		return
	}
	_, _ = f.Write([]byte(redacted))
}

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (YAML and other encoders).
func (v Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (v Value) LogValue() slog.Value { return slog.StringValue(redacted) }
