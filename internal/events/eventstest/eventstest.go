// Package eventstest gives tests real event receivers: a RabbitMQ queue, a
// NATS JetStream stream and a loopback webhook, each collecting what it
// receives. A test that needs a broker that is not running fails under CI
// (CI set) and is skipped elsewhere.
package eventstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"gocloud.dev/pubsub"

	"github.com/vccingest/vccingest/internal/events"
)

// RabbitURL is the test broker (VCCINGEST_TEST_RABBIT, default the local
// guest account).
func RabbitURL() string { return envOr("VCCINGEST_TEST_RABBIT", "amqp://guest:guest@127.0.0.1:5672/") }

// NATSURL is the test NATS server, with JetStream (VCCINGEST_TEST_NATS).
func NATSURL() string { return envOr("VCCINGEST_TEST_NATS", "nats://127.0.0.1:4222") }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// require fails (CI) or skips the test when nothing listens at hostport.
func require(t testing.TB, what, hostport string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	msg := what + " is not running at " + hostport + " (.ci/run starts it): " + err.Error()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Collector holds the events a receiver got, in arrival order.
type Collector struct {
	mu     sync.Mutex
	events []events.Event
	bad    []string
}

func (c *Collector) add(body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ev events.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		c.bad = append(c.bad, string(body))
		return
	}
	c.events = append(c.events, ev)
}

// Events returns what arrived so far; Undecodable, bodies that were not an
// event.
func (c *Collector) Events() []events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]events.Event(nil), c.events...)
}

// Undecodable returns the bodies that were not a CloudEvent.
func (c *Collector) Undecodable() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bad...)
}

// WaitFor waits up to timeout for at least n events and returns them.
func (c *Collector) WaitFor(n int, timeout time.Duration) []events.Event {
	deadline := time.Now().Add(timeout)
	for {
		evs := c.Events()
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func suffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Rabbit is a fresh fanout exchange with one queue bound to it.
type Rabbit struct {
	Collector
	Exchange string
}

// SinkURL is the events sink URL of the exchange (RABBIT_SERVER_URL must be
// RabbitURL()).
func (r *Rabbit) SinkURL() string { return "rabbit://" + r.Exchange }

// NewRabbit declares an exchange and a queue that collects what reaches it.
func NewRabbit(t testing.TB) *Rabbit {
	t.Helper()
	u := RabbitURL()
	require(t, "RabbitMQ", hostOf(u, "127.0.0.1:5672"))
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatalf("RabbitMQ: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	r := &Rabbit{Exchange: "vccingest-test-" + suffix()}
	if err := ch.ExchangeDeclare(r.Exchange, "fanout", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "", r.Exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range deliveries {
			r.add(d.Body)
		}
	}()
	t.Cleanup(func() { _ = ch.ExchangeDelete(r.Exchange, false, false) })
	return r
}

// Stream is a fresh JetStream stream on its own subject, with a consumer
// that collects every message.
type Stream struct {
	Collector
	Subject string
}

// SinkURL is the events sink URL of the stream's subject.
func (s *Stream) SinkURL() string { return NATSURL() + "/" + s.Subject }

// SinkURLVia is the sink URL through a proxy (NewProxy(t, NATSAddr())).
func (s *Stream) SinkURLVia(p *Proxy) string { return "nats://" + p.Addr + "/" + s.Subject }

// NATSAddr is host:port of NATSURL.
func NATSAddr() string { return hostOf(NATSURL(), "127.0.0.1:4222") }

// NewStream creates a stream (removed at the end of the test).
func NewStream(t testing.TB) *Stream {
	t.Helper()
	require(t, "NATS", hostOf(NATSURL(), "127.0.0.1:4222"))
	nc, err := nats.Connect(NATSURL())
	if err != nil {
		t.Fatalf("NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := suffix()
	s := &Stream{Subject: "vccingest.test." + id}
	name := "VCCINGEST_TEST_" + id
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{s.Subject}, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatalf("create JetStream stream (is JetStream enabled, nats-server -js?): %v", err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { s.add(m.Data()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return s
}

// Webhook is a loopback receiver that checks each request's signature as
// the README says, and answers Status (200 unless set).
type Webhook struct {
	Collector
	URL      string
	Status   atomic.Int32 // what to answer a good request; 0 is 200
	Refused  atomic.Int32 // requests whose signature did not verify
	Answered atomic.Int32 // requests answered with an error Status
}

// NewWebhook starts a receiver that verifies with key.
func NewWebhook(t testing.TB, key string) *Webhook {
	t.Helper()
	w := &Webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		if err := events.Verify([]byte(key), r.Header.Get(events.TimestampHeader), r.Header.Get(events.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			w.Refused.Add(1)
			http.Error(rw, err.Error(), http.StatusUnauthorized)
			return
		}
		if s := int(w.Status.Load()); s != 0 && s != http.StatusOK {
			w.Answered.Add(1)
			http.Error(rw, "not now", s)
			return
		}
		w.add(body)
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL + "/vccingest-events"
	return w
}

// hostOf is the host:port of a broker URL, or def.
func hostOf(raw, def string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return def
}

// Subscription receives the events sent to a gocloud.dev/pubsub topic
// (mem:// in tests). Open it before the events are sent: a mem:// topic
// drops what it gets while nobody subscribes.
type Subscription struct {
	sub *pubsub.Subscription
}

// Subscribe opens a subscription to url, shut down when the test ends.
func Subscribe(t testing.TB, url string) *Subscription {
	t.Helper()
	ctx := context.Background()
	sub, err := pubsub.OpenSubscription(ctx, url)
	if err != nil {
		t.Fatalf("subscribe to %s: %v", url, err)
	}
	t.Cleanup(func() { _ = sub.Shutdown(ctx) })
	return &Subscription{sub: sub}
}

// Next waits up to 5 s for the next message, acknowledges it, and returns
// its event and metadata; with data not nil it decodes the event's data
// into it. A message that does not come, or is not an event, fails the
// test.
func (s *Subscription) Next(t testing.TB, data any) (events.Event, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := s.sub.Receive(ctx)
	if err != nil {
		t.Fatalf("no event arrived: %v", err)
	}
	m.Ack()
	var ev events.Event
	if err := json.Unmarshal(m.Body, &ev); err != nil {
		t.Fatalf("not an event: %s: %v", m.Body, err)
	}
	if data != nil {
		if err := json.Unmarshal(ev.Data, data); err != nil {
			t.Fatalf("data of event %s: %v: %s", ev.ID, err, ev.Data)
		}
	}
	return ev, m.Metadata
}
