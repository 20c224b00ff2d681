package secret

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
)

// Redactor hides the secrets of one process wherever text is about to leave
// it: the values it was told of (the live client secret, the tokens issued
// to it) and what a URL in the text carries of a secret (a user-info
// password, a secret-named query parameter's value, as RedactURL). It is
// safe for concurrent use; the zero value knows no values yet.
type Redactor struct {
	mu    sync.RWMutex
	known []string
}

// minKnown is the shortest value Redactor replaces: a shorter "secret"
// would redact ordinary words.
const minKnown = 8

// maxKnown bounds what a long-lived process remembers: the newest values
// (a token per scope per renewal) are the ones that can still leak.
const maxKnown = 64

// Add makes v one of the values Redact replaces.
func (r *Redactor) Add(v string) {
	if len(v) < minKnown {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.known {
		if k == v {
			return
		}
	}
	r.known = append(r.known, v)
	if len(r.known) > maxKnown {
		r.known = r.known[len(r.known)-maxKnown:]
	}
}

// Redacted is what a value is replaced by.
const Redacted = "[redacted]"

var (
	userInfoPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@"']*:)[^@\s/"']+@`)
	secretQueryValue = regexp.MustCompile(`([?&][A-Za-z_.-]*(?i:password|passwd|secret|token|key|sig|credential)[A-Za-z_.-]*=)[^&\s"']+`)
)

// Redact returns text with every known value replaced by [redacted] and
// the secrets of the URLs in it hidden.
func (r *Redactor) Redact(text string) string {
	if r != nil {
		r.mu.RLock()
		for _, k := range r.known {
			if strings.Contains(text, k) {
				text = strings.ReplaceAll(text, k, Redacted)
			}
		}
		r.mu.RUnlock()
	}
	if strings.Contains(text, "://") {
		text = userInfoPassword.ReplaceAllString(text, "${1}xxxxx@")
	}
	if strings.ContainsAny(text, "?&") && strings.Contains(text, "=") {
		text = secretQueryValue.ReplaceAllString(text, "${1}xxxxx")
	}
	return text
}

type redactorKey struct{}

// WithRedactor returns ctx carrying r, for the parts of a process that
// build its logger and its clients.
func WithRedactor(ctx context.Context, r *Redactor) context.Context {
	return context.WithValue(ctx, redactorKey{}, r)
}

// RedactorFrom is the Redactor ctx carries, or a new one.
func RedactorFrom(ctx context.Context) *Redactor {
	if r, ok := ctx.Value(redactorKey{}).(*Redactor); ok && r != nil {
		return r
	}
	return &Redactor{}
}

// NewHandler wraps h so that every record's message and every attribute
// (groups, errors and LogValuers included, resolved to text) passes r
// before h sees it: no log line carries a value r knows or a URL's secret.
func NewHandler(h slog.Handler, r *Redactor) slog.Handler {
	return &redactingHandler{h: h, r: r}
}

type redactingHandler struct {
	h slog.Handler
	r *Redactor
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.h.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return &redactingHandler{h: h.h.WithAttrs(red), r: h.r}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{h: h.h.WithGroup(name), r: h.r}
}

func (h *redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = h.attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		// Errors, Stringers and everything else are logged as text; as
		// text they are redacted.
		return slog.String(a.Key, h.r.Redact(anyText(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func anyText(v any) string {
	switch v := v.(type) {
	case error:
		return v.Error()
	case interface{ String() string }:
		return v.String()
	}
	return slog.AnyValue(v).String()
}
