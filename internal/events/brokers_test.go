package events_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/events/eventstest"
)

func testEvent(t *testing.T, i int) events.Event {
	t.Helper()
	ev, err := events.New(events.TypeRecordingStored, events.RecordingID("acme", "g", "callRecording", "stored", int64(i)), events.Source("acme"), "", time.Now(), map[string]int{"i": i})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// Each broker sink returns only once the broker has the event (RabbitMQ's
// publisher confirm, JetStream's ack), so what Publish accepted is there.
func TestSink_BrokersHaveWhatPublishAccepted(t *testing.T) {
	ctx := context.Background()
	rabbit := eventstest.NewRabbit(t)
	t.Setenv("RABBIT_SERVER_URL", eventstest.RabbitURL())
	stream := eventstest.NewStream(t)
	for _, c := range []struct {
		url string
		got *eventstest.Collector
	}{{rabbit.SinkURL(), &rabbit.Collector}, {stream.SinkURL(), &stream.Collector}} {
		s, err := events.Open(ctx, c.url, events.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := s.Publish(ctx, testEvent(t, i)); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		s.Close()
		if got := c.got.WaitFor(20, 10*time.Second); len(got) != 20 {
			t.Errorf("%s: %d of 20 events received", c.url, len(got))
		}
	}
}

// JetStream drops a copy of an event published again (the event id is
// its Nats-Msg-Id); a subject no stream captures is an error that says
// what to create.
func TestSink_NATSDeduplicatesAndNamesAMissingStream(t *testing.T) {
	ctx := context.Background()
	stream := eventstest.NewStream(t)
	s, err := events.Open(ctx, stream.SinkURL(), events.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev := testEvent(t, 1)
	for range 3 {
		if err := s.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := stream.Events(); len(got) != 1 {
		t.Errorf("%d copies in the stream, want 1", len(got))
	}
	none, err := events.Open(ctx, eventstest.NATSURL()+"/vccingest.nobody.listens", events.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer none.Close()
	if err := none.Publish(ctx, ev); err == nil {
		t.Error("a publish no stream acknowledged succeeded")
	}
}

// A mem:// sink delivers the envelope as the message body, as a broker
// sink does.
func TestSink_MemDeliversTheEnvelope(t *testing.T) {
	ctx := context.Background()
	s, err := events.Open(ctx, "mem://events-test", events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub := eventstest.Subscribe(t, "mem://events-test")
	ev := testEvent(t, 1)
	if err := s.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	var data map[string]int
	got, md := sub.Next(t, &data)
	if got.ID != ev.ID || md["content-type"] != events.ContentType || data["i"] != 1 {
		t.Fatalf("received %+v (data %v), metadata %v", got, data, md)
	}
}

// The cloud brokers' schemes (gocloud.dev/pubsub drivers) open, and a
// broker that does not answer is a delivery error that names the sink and
// keeps its secret, within the sink's timeout: here each points at a
// closed loopback port.
func TestSink_CloudSchemesOpenAndFailClearlyWhenUnreachable(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // no credential lookup beyond loopback
	t.Setenv("SERVICEBUS_CONNECTION_STRING", "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0LWtleQ==")
	t.Setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
	ctx := context.Background()
	for _, raw := range []string{
		"awssqs://127.0.0.1:1/123456789012/events?region=us-east-1&endpoint=http://127.0.0.1:1&anonymous=true",
		"awssns:///arn:aws:sns:us-east-1:123456789012:events?region=us-east-1&endpoint=http://127.0.0.1:1&anonymous=true",
		"azuresb://events",
		"gcppubsub://projects/test/topics/events",
	} {
		t.Run(strings.SplitN(raw, ":", 2)[0], func(t *testing.T) {
			t.Parallel()
			s, err := events.Open(ctx, raw, events.Options{Timeout: 2 * time.Second})
			if err != nil {
				t.Fatalf("Open(%s): %v", raw, err)
			}
			defer s.Close()
			began := time.Now()
			err = s.Publish(ctx, testEvent(t, 1))
			took := time.Since(began)
			t.Logf("%s after %s", err, took.Round(time.Millisecond))
			switch {
			case err == nil:
				t.Errorf("a publish to a closed port succeeded")
			case !strings.Contains(err.Error(), s.String()) || strings.Contains(err.Error(), "c2VjcmV0LWtleQ"):
				t.Errorf("the error does not name the sink, or shows its secret: %v", err)
			case took > 20*time.Second:
				t.Errorf("the publish took %s despite a 2 s timeout", took)
			}
		})
	}
}

// A scheme Open does not know is refused with the list of those it does.
func TestOpen_UnsupportedSchemeListsTheSupportedOnes(t *testing.T) {
	_, err := events.Open(context.Background(), "kafka://events", events.Options{})
	if err == nil || !strings.Contains(err.Error(), events.Schemes) {
		t.Fatalf("kafka:// = %v; want an error listing %s", err, events.Schemes)
	}
}
