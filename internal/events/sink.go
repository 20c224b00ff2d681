package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
)

// Sink is one destination of events, opened from a URL:
//
//	rabbit://EXCHANGE            RabbitMQ through gocloud.dev/pubsub (server from RABBIT_SERVER_URL), publisher confirms
//	awssqs://… awssns://…       Amazon SQS or SNS through gocloud.dev/pubsub/awssnssqs (AWS SDK credentials)
//	azuresb://TOPIC              Azure Service Bus through gocloud.dev/pubsub/azuresb (SERVICEBUS_CONNECTION_STRING)
//	gcppubsub://projects/P/topics/T  Google Cloud Pub/Sub through gocloud.dev/pubsub/gcppubsub (application default credentials)
//	mem://TOPIC                  gocloud.dev's in-process topic, for tests
//	nats://HOST:PORT/SUBJECT     NATS JetStream, each publish acknowledged by the stream
//	https://HOST/PATH            a webhook, each POST signed with HMAC-SHA256 (Options.WebhookSecret)
//
// http:// is accepted for loopback webhooks only.
type Sink struct {
	id      string
	name    string
	pub     publisher
	timeout time.Duration

	// What this process's deliveries to the sink did, for metrics and the
	// status page.
	published, failed atomic.Int64
	lastFailure       atomic.Pointer[Failure]
}

// Failure is a delivery the sink refused.
type Failure struct {
	At    time.Time
	Error string
}

// Counts are what this process delivered to the sink: events it
// acknowledged, deliveries it refused (each retried), and the last refusal
// if it came after the last acknowledgement (nil when the sink works).
type Counts struct {
	Published, Failed int64
	Failing           *Failure
}

// publisher is what each kind of sink does: deliver one encoded event and
// return only once the far side has it.
type publisher interface {
	publish(ctx context.Context, id, typ string, body []byte) error
	close() error
}

// Options are what some sinks need beside their URL.
type Options struct {
	// WebhookSecret signs webhook requests; required for http(s):// sinks.
	WebhookSecret secret.Value
	// Timeout bounds one delivery (default 30 s).
	Timeout time.Duration
	// Now is the clock of webhook signatures (default time.Now).
	Now func() time.Time
}

// Open opens the sink at rawURL.
func Open(ctx context.Context, rawURL string, opts Options) (*Sink, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("events sink %q: not a URL; use one of %s", secret.RedactURL(rawURL), Schemes)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sink{id: SinkID(rawURL), name: secret.RedactURL(rawURL), timeout: opts.Timeout}
	switch u.Scheme {
	case "rabbit", "mem", "awssqs", "awssns", "azuresb", "gcppubsub":
		s.pub, err = openPubSub(ctx, rawURL)
	case "nats":
		s.pub, err = openNATS(ctx, u, opts)
	case "https", "http":
		s.pub, err = openWebhook(u, opts)
	default:
		return nil, fmt.Errorf("events sink %s: scheme %q is not supported; use one of %s", s.name, u.Scheme, Schemes)
	}
	if err != nil {
		return nil, fmt.Errorf("events sink %s: %w", s.name, err)
	}
	return s, nil
}

// Schemes lists the sink URLs Open accepts, for messages. Kafka is not
// among them: gocloud.dev's Kafka driver is a module of its own that the
// module proxy vccingest builds from does not serve.
const Schemes = "rabbit://EXCHANGE, nats://HOST:PORT/SUBJECT, https://HOST/PATH, awssqs://…, awssns://…, azuresb://TOPIC, gcppubsub://projects/P/topics/T, mem://TOPIC"

// SinkID names a sink in job arguments and metrics without its URL (which
// may hold a password): the first 12 hex digits of the URL's sha256.
func SinkID(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return hex.EncodeToString(sum[:6])
}

// ID is SinkID of the sink's URL.
func (s *Sink) ID() string { return s.id }

// String is the sink's URL without its secrets (secret.RedactURL), for
// messages.
func (s *Sink) String() string { return s.name }

// Timeout is the longest one delivery to the sink takes.
func (s *Sink) Timeout() time.Duration { return s.timeout }

// Publish delivers ev and returns once the sink acknowledged it.
func (s *Sink) Publish(ctx context.Context, ev Event) error {
	body, err := ev.Encode()
	if err != nil {
		return err
	}
	return s.PublishEncoded(ctx, ev.ID, ev.Type, body)
}

// PublishEncoded delivers body, an event Event.Encode made whose id and
// type are id and typ, as it is (an outbox keeps events encoded), and
// returns once the sink acknowledged it.
func (s *Sink) PublishEncoded(ctx context.Context, id, typ string, body []byte) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.pub.publish(ctx, id, typ, body); err != nil {
		gaveUp := parent.Err() != nil // the caller (a stopping process): not the sink's failure
		if !gaveUp && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("the sink did not acknowledge it within %s (is the broker reachable?): %w", s.timeout, err)
		}
		err = fmt.Errorf("publish event %s to %s: %w", id, s.name, err)
		if gaveUp {
			return err
		}
		s.failed.Add(1)
		s.lastFailure.Store(&Failure{At: time.Now(), Error: err.Error()})
		return err
	}
	s.published.Add(1)
	s.lastFailure.Store(nil)
	return nil
}

// Counts reports what this process delivered to the sink.
func (s *Sink) Counts() Counts {
	return Counts{Published: s.published.Load(), Failed: s.failed.Load(), Failing: s.lastFailure.Load()}
}

// Close releases the sink's connection.
func (s *Sink) Close() error { return s.pub.close() }

// OpenAll opens every sink of urls; on an error it closes those it opened.
func OpenAll(ctx context.Context, urls []string, opts Options) ([]*Sink, error) {
	var sinks []*Sink
	seen := map[string]bool{}
	for _, raw := range urls {
		raw = strings.TrimSpace(raw)
		if raw == "" || seen[raw] {
			continue
		}
		seen[raw] = true
		s, err := Open(ctx, raw, opts)
		if err != nil {
			CloseAll(sinks)
			return nil, err
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

// CloseAll closes sinks.
func CloseAll(sinks []*Sink) error {
	var errs []error
	for _, s := range sinks {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
