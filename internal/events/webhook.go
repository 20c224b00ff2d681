package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
)

// The headers of a webhook request. The signature is
//
//	v1=hex(HMAC-SHA256(secret, timestamp + "." + body))
//
// with timestamp the value of TimestampHeader (Unix seconds) and body the
// request body exactly as received. Verify checks both.
const (
	TimestampHeader = "Vccingest-Timestamp"
	SignatureHeader = "Vccingest-Signature"
)

// webhookSink POSTs each event to a URL, signed.
type webhookSink struct {
	url    string
	secret secret.Value
	client *http.Client
	now    func() time.Time
}

func openWebhook(u *url.URL, opts Options) (*webhookSink, error) {
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, errors.New("plain http:// is only accepted for loopback addresses; use https://")
	}
	if u.Host == "" {
		return nil, errors.New("the webhook URL names no host")
	}
	if opts.WebhookSecret.IsZero() {
		return nil, errors.New("a webhook needs a signing secret: set events_secret_ref (--events-secret-ref) to env:NAME or file:PATH")
	}
	return &webhookSink{
		url:    u.String(),
		secret: opts.WebhookSecret,
		now:    opts.Now,
		client: &http.Client{
			Timeout:   opts.Timeout,
			Transport: webhookTransport(),
			// A redirect would send the signed event elsewhere: refused.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// webhookTransport keeps a connection for each delivery in flight (the
// default keeps two per host, so concurrent deliveries would each open and
// close one).
func webhookTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *webhookSink) publish(ctx context.Context, _, _ string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, Sign([]byte(s.secret.Reveal()), ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s: %q", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

func (s *webhookSink) close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Sign returns the SignatureHeader value for body sent at timestamp.
func Sign(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is returned by Verify for a request that was not signed
// with the key, or whose body or timestamp was changed.
var ErrBadSignature = errors.New("webhook signature does not match")

// ErrStale is returned by Verify for a request signed longer ago (or
// further ahead) than the tolerance: a replay, or a clock far off.
var ErrStale = errors.New("webhook timestamp is outside the tolerance")

// Verify checks a webhook request as a receiver should: the signature over
// timestamp and body, in constant time, and the timestamp within tolerance
// of now. A replayed request inside the tolerance carries an event id seen
// already: de-duplicate by id.
func Verify(key []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrBadSignature, timestamp)
	}
	if !hmac.Equal([]byte(Sign(key, timestamp, body)), []byte(signature)) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s ago", ErrStale, d.Round(time.Second))
	}
	return nil
}
