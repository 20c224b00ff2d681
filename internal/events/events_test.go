package events

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
)

func storedEvent(t *testing.T) Event {
	t.Helper()
	at := time.Date(2024, 3, 4, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	ev, err := New(TypeRecordingStored, RecordingID("acme", "g-1", "callRecording", "stored", 0), Source("acme"), "acme/2024/03/04/g-1/callRecording.wav", at,
		RecordingStored{Tenant: "acme", InteractionID: "g-1", ContentKey: "callRecording", SHA256: "ab", Bytes: 2})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// The encoded envelope carries each attribute CloudEvents 1.0 requires
// (specversion, id, source, type) with a valid value, the optional ones
// vccingest promises (time as RFC 3339, datacontenttype, data as a JSON
// object), and nothing named outside the spec's attribute naming rule.
func TestEvent_ConformsToCloudEvents10(t *testing.T) {
	b, err := json.Marshal(storedEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(b, &attrs); err != nil {
		t.Fatal(err)
	}
	str := func(name string) string {
		var s string
		if err := json.Unmarshal(attrs[name], &s); err != nil {
			t.Errorf("attribute %s: not a string: %s", name, attrs[name])
		}
		return s
	}
	for _, required := range []string{"specversion", "id", "source", "type"} {
		if str(required) == "" {
			t.Errorf("required attribute %s is missing or empty in %s", required, b)
		}
	}
	if v := str("specversion"); v != "1.0" {
		t.Errorf("specversion %q", v)
	}
	if _, err := time.Parse(time.RFC3339, str("time")); err != nil || !strings.HasSuffix(str("time"), "Z") {
		t.Errorf("time %q is not RFC 3339 UTC: %v", str("time"), err)
	}
	if ct := str("datacontenttype"); ct != "application/json" {
		t.Errorf("datacontenttype %q", ct)
	}
	var data map[string]any
	if err := json.Unmarshal(attrs["data"], &data); err != nil || data["sha256"] != "ab" {
		t.Errorf("data %s is not the JSON object given: %v", attrs["data"], err)
	}
	for name := range attrs {
		// Spec: attribute names are lower-case ASCII letters or digits.
		if strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789") != "" || len(name) > 20 {
			t.Errorf("attribute name %q breaks the CloudEvents naming rule", name)
		}
	}
}

func TestEvent_ValidateRefusesWhatTheSpecRequires(t *testing.T) {
	for name, mutate := range map[string]func(*Event){
		"no id":         func(e *Event) { e.ID = "" },
		"no type":       func(e *Event) { e.Type = "" },
		"no source":     func(e *Event) { e.Source = "" },
		"bad source":    func(e *Event) { e.Source = "http://[::1" },
		"other version": func(e *Event) { e.SpecVersion = "0.3" },
		"no time":       func(e *Event) { e.Time = time.Time{} },
	} {
		ev := storedEvent(t)
		mutate(&ev)
		if err := ev.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, ev)
		}
	}
	if err := storedEvent(t).Validate(); err != nil {
		t.Errorf("a good event: %v", err)
	}
}

// The id depends only on what the event is about, so a consumer can drop
// the copies at-least-once delivery brings: the same recording gives the
// same id, any other tenant, interaction, content, kind or revision another.
func TestRecordingID_IsDeterministic(t *testing.T) {
	base := RecordingID("acme", "g-1", "callRecording", "stored", 0)
	if again := RecordingID("acme", "g-1", "callRecording", "stored", 0); again != base {
		t.Fatalf("same recording, ids %q and %q", base, again)
	}
	if storedEvent(t).ID != storedEvent(t).ID {
		t.Fatal("two events of the same recording differ in id")
	}
	seen := map[string]string{base: "base"}
	for name, id := range map[string]string{
		"tenant":      RecordingID("other", "g-1", "callRecording", "stored", 0),
		"interaction": RecordingID("acme", "g-2", "callRecording", "stored", 0),
		"content":     RecordingID("acme", "g-1", "voicemail", "stored", 0),
		"kind":        RecordingID("acme", "g-1", "callRecording", "failed", 0),
		"revision":    RecordingID("acme", "g-1", "callRecording", "stored", 2),
	} {
		if prev, dup := seen[id]; dup {
			t.Errorf("another %s gives the id of %s: %q", name, prev, id)
		}
		seen[id] = name
	}
}

func TestOpen_RefusesWhatCannotWork(t *testing.T) {
	ctx := context.Background()
	for _, raw := range []string{
		"kafka://topic",           // not supported (yet)
		"http://example.com/hook", // plain http beyond loopback
		"http://127.0.0.1:9/hook", // no secret
		"nats://127.0.0.1:4222",   // no subject
		"rabbit://",               // no exchange
		"not a url",
	} {
		if s, err := Open(ctx, raw, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) accepted it", raw)
		}
	}
}

// A sink's name, which logs and errors show, keeps no secret of its URL.
func TestSink_NameHidesSecrets(t *testing.T) {
	s, err := Open(context.Background(), "http://user:hunter2@127.0.0.1:9/hook?token=s3cr3t-token", Options{WebhookSecret: secret.New("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if strings.Contains(s.String(), "hunter2") || strings.Contains(s.String(), "s3cr3t-token") {
		t.Errorf("sink name %q shows a secret", s.String())
	}
}
