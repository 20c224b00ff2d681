package secret

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

type stringer string

func (s stringer) String() string { return string(s) }

// Every way a value reaches a log line passes the redactor: the message,
// string attributes, errors, Stringers, groups, WithAttrs and LogValuers,
// in text and JSON; URL passwords and secret query values are hidden even
// when nobody told the redactor of them.
func TestHandler_RedactsEveryLogLine(t *testing.T) {
	const sec, tok = "s3cr3t-client-value", "eyJhbGciOi.issued-token"
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			var h slog.Handler = slog.NewTextHandler(&out, nil)
			if format == "json" {
				h = slog.NewJSONHandler(&out, nil)
			}
			r := &Redactor{}
			r.Add(sec)
			log := slog.New(NewHandler(h, r)).With("early", "before the token: "+sec)
			r.Add(tok)     // a token issued after the logger was built
			r.Add("short") // too short to redact
			log.Info("message with "+tok,
				"str", "Bearer "+tok,
				"err", errors.New("VCC said: bad token "+tok),
				"stringer", stringer("secret="+sec),
				slog.Group("g", "inner", tok, "n", 3),
				"url", "postgres://vcc:hunter2pass@db:5432/x?sslpassword=abc123&sslmode=require",
				"hook", "https://hooks.example/x?token=t0ps3cret&a=1",
				"valuer", New(sec),
				"plain", "short words stay")
			got := out.String()
			for _, leak := range []string{sec, tok, "hunter2pass", "abc123", "t0ps3cret"} {
				if strings.Contains(got, leak) {
					t.Errorf("log line carries %q:\n%s", leak, got)
				}
			}
			for _, want := range []string{"[redacted]", "vcc:xxxxx@db", "sslmode=require", "short words stay", "a=1"} {
				if !strings.Contains(got, want) {
					t.Errorf("log line lacks %q:\n%s", want, got)
				}
			}
		})
	}
}

func TestRedactor_NilAndUnknown(t *testing.T) {
	var r *Redactor
	if got := r.Redact("nothing to hide"); got != "nothing to hide" {
		t.Errorf("nil redactor changed text: %q", got)
	}
	if got := (&Redactor{}).Redact("https://x/y?contentKey=callRecording&limit=5"); got != "https://x/y?contentKey=xxxxx&limit=5" {
		t.Errorf("a key-named query value was not hidden: %q", got)
	}
}
