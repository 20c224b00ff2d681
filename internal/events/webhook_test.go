package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
)

func TestVerify_RoundTripAndForgeries(t *testing.T) {
	key := []byte("webhook-secret-of-the-test")
	now := time.Unix(1_700_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"specversion":"1.0","id":"a/b/c/stored"}`)
	sig := Sign(key, ts, body)
	if err := Verify(key, ts, sig, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	old := strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)
	for name, c := range map[string]struct {
		key     []byte
		ts, sig string
		body    []byte
		want    error
	}{
		"changed body":           {key, ts, sig, []byte(`{"specversion":"1.0","id":"a/b/d/stored"}`), ErrBadSignature},
		"other key":              {[]byte("guessed"), ts, sig, body, ErrBadSignature},
		"moved timestamp":        {key, strconv.FormatInt(now.Unix()+1, 10), sig, body, ErrBadSignature},
		"no signature":           {key, ts, "", body, ErrBadSignature},
		"not a timestamp":        {key, "yesterday", sig, body, ErrBadSignature},
		"replayed an hour later": {key, old, Sign(key, old, body), body, ErrStale},
	} {
		if err := Verify(c.key, c.ts, c.sig, c.body, now, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", name, err, c.want)
		}
	}
}

// The webhook sink signs what it sends so that the documented check
// passes at the receiver, and a receiver's error is the publish's error
// (the job retries it).
func TestWebhook_SignedDeliveryAndReceiverErrors(t *testing.T) {
	key := "s3cret-for-the-webhook-test"
	var fail atomic.Bool
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify([]byte(key), r.Header.Get(TimestampHeader), r.Header.Get(SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Content-Type") != ContentType {
			http.Error(w, "content type", http.StatusUnsupportedMediaType)
			return
		}
		if fail.Load() {
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return
		}
		got.Add(1)
	}))
	defer srv.Close()
	ctx := context.Background()
	s, err := Open(ctx, srv.URL+"/hook", Options{WebhookSecret: secret.New(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Publish(ctx, storedEvent(t)); err != nil || got.Load() != 1 {
		t.Fatalf("publish: %v, received %d", err, got.Load())
	}
	fail.Store(true)
	if err := s.Publish(ctx, storedEvent(t)); err == nil {
		t.Fatal("a 500 from the receiver was taken as delivered")
	}
	wrong, err := Open(ctx, srv.URL+"/hook", Options{WebhookSecret: secret.New("not-the-key")})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	fail.Store(false)
	if err := wrong.Publish(ctx, storedEvent(t)); err == nil || got.Load() != 1 {
		t.Fatalf("a request signed with another key was accepted: %v", err)
	}
}

// A receiver checks a request in a few lines.
func ExampleVerify() {
	key := []byte("the secret that events_secret_ref names")
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		err = Verify(key, r.Header.Get("Vccingest-Timestamp"), r.Header.Get("Vccingest-Signature"), body, time.Now(), 5*time.Minute)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// Then de-duplicate by the event's id and handle it.
		fmt.Println("verified")
	}
	srv := httptest.NewServer(http.HandlerFunc(handler))
	defer srv.Close()
	s, _ := Open(context.Background(), srv.URL, Options{WebhookSecret: secret.New(string(key))})
	defer s.Close()
	ev, _ := New(TypeRecordingStored, "acme/g-1/callRecording/stored", Source("acme"), "", time.Now(), map[string]string{})
	_ = s.Publish(context.Background(), ev)
	// Output: verified
}

// The scheme is what README documents: a known answer, computed with
// Python's hmac (the README's receiver), pins it.
func TestSign_MatchesTheDocumentedScheme(t *testing.T) {
	const want = "v1=4733b0070cf285133179508f4dc1cf5badcc79eba3978fe3a1a3e63bf4b4e01e"
	if got := Sign([]byte("k"), "123", []byte("{}")); got != want {
		t.Fatalf("Sign = %s, want %s (hmac.new(b'k', b'123.{}', sha256))", got, want)
	}
}
