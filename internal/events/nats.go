package events

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsSink publishes to a JetStream stream and waits for the stream's
// acknowledgement. The event id goes as Nats-Msg-Id, so the stream itself
// drops a copy published again within its duplicate window.
type natsSink struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
}

func openNATS(_ context.Context, u *url.URL, opts Options) (*natsSink, error) {
	subject := strings.Trim(u.Path, "/")
	if subject == "" {
		return nil, errors.New("name the subject: nats://HOST:PORT/SUBJECT (a JetStream stream must capture it)")
	}
	server := &url.URL{Scheme: "nats", User: u.User, Host: u.Host}
	options := []nats.Option{nats.Name("vccingest"), nats.Timeout(min(opts.Timeout, 5*time.Second)), nats.MaxReconnects(-1)}
	nc, err := nats.Connect(server.String(), options...)
	if err != nil {
		// A server that is down at start-up is not an error: the client
		// keeps trying in the background, and events wait in the job
		// queue meanwhile.
		nc, err = nats.Connect(server.String(), append(options, nats.RetryOnFailedConnect(true))...)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", server.Redacted(), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream at %s: %w", server.Redacted(), err)
	}
	return &natsSink{nc: nc, js: js, subject: subject}, nil
}

func (s *natsSink) publish(ctx context.Context, id, typ string, body []byte) error {
	if err := s.connected(ctx); err != nil {
		return err
	}
	msg := nats.NewMsg(s.subject)
	msg.Data = body
	msg.Header.Set("Content-Type", ContentType)
	msg.Header.Set("ce-type", typ)
	_, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("no JetStream stream acknowledged subject %q (create one that captures it, e.g. nats stream add VCCINGEST --subjects %q): %w", s.subject, s.subject, err)
	}
	return err
}

func (s *natsSink) close() error {
	s.nc.Close()
	return nil
}

// connected waits a moment for a connection being (re)established, then
// fails: a publish while disconnected would only wait for its timeout,
// holding a worker, while the job's retry finds the connection back.
func (s *natsSink) connected(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Second)
	for !s.nc.IsConnected() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not connected to NATS (%s); reconnecting in the background", s.nc.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}
