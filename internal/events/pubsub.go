package events

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"gocloud.dev/pubsub"
	_ "gocloud.dev/pubsub/mempubsub" // mem:// topics, for tests
	"gocloud.dev/pubsub/rabbitpubsub"
)

// pubsubSink sends through a gocloud.dev/pubsub topic. A topic whose send
// failed is dropped and opened again for the next event: a RabbitMQ
// connection that the broker closed (a restart) never comes back by
// itself, and gocloud's URL opener would hand out that same connection.
type pubsubSink struct {
	open func(ctx context.Context) (*pubsub.Topic, func() error, error)

	mu    sync.Mutex
	topic *pubsub.Topic
	done  func() error // closes what open opened beside the topic
}

func openPubSub(ctx context.Context, rawURL string) (*pubsubSink, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	s := &pubsubSink{}
	switch u.Scheme {
	case "rabbit":
		exchange := u.Host
		if exchange == "" {
			return nil, errors.New("name the exchange: rabbit://EXCHANGE")
		}
		server := os.Getenv("RABBIT_SERVER_URL")
		if server == "" {
			return nil, errors.New("set RABBIT_SERVER_URL to the broker's amqp:// URL (as gocloud.dev/pubsub/rabbitpubsub reads it)")
		}
		s.open = func(ctx context.Context) (*pubsub.Topic, func() error, error) {
			conn, err := amqp.DialConfig(server, amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
			if err != nil {
				return nil, nil, fmt.Errorf("connect to RabbitMQ (RABBIT_SERVER_URL): %w", redactAMQP(err, server))
			}
			return rabbitpubsub.OpenTopic(conn, exchange, nil), conn.Close, nil
		}
	default:
		s.open = func(ctx context.Context) (*pubsub.Topic, func() error, error) {
			t, err := pubsub.OpenTopic(ctx, rawURL)
			return t, func() error { return nil }, err
		}
	}
	// Connect now, so that a wrong URL is found at start-up; a broker that
	// is down is not an error (events wait in the queue until it is back).
	if u.Scheme == "mem" {
		if _, err := s.get(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *pubsubSink) get(ctx context.Context) (*pubsub.Topic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topic != nil {
		return s.topic, nil
	}
	t, done, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	s.topic, s.done = t, done
	return t, nil
}

func (s *pubsubSink) publish(ctx context.Context, id, typ string, body []byte) error {
	t, err := s.get(ctx)
	if err != nil {
		return err
	}
	err = t.Send(ctx, &pubsub.Message{
		Body:     body,
		Metadata: map[string]string{"content-type": ContentType, "ce-id": id, "ce-type": typ},
	})
	if err != nil {
		s.reset(t)
	}
	return err
}

// reset drops t if it is still the current topic.
func (s *pubsubSink) reset(t *pubsub.Topic) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topic != t {
		return
	}
	s.closeLocked()
}

func (s *pubsubSink) closeLocked() error {
	if s.topic == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := errors.Join(s.topic.Shutdown(ctx), s.done())
	s.topic, s.done = nil, nil
	return err
}

func (s *pubsubSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

// redactAMQP keeps the broker's password out of an error.
func redactAMQP(err error, server string) error {
	u, perr := url.Parse(server)
	if perr != nil {
		return errors.New("the URL cannot be parsed")
	}
	if p, ok := u.User.Password(); ok && p != "" {
		return fmt.Errorf("%s: %s", u.Redacted(), strings.ReplaceAll(err.Error(), p, "xxxxx"))
	}
	return err
}
