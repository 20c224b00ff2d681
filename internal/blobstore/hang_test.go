package blobstore

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// An S3 endpoint that accepts the connection and never answers does not
// hang start-up: Open gives up at the bucket check's bound and says the
// bucket did not answer.
func TestOpen_S3EndpointThatNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // read nothing, answer nothing
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(held)
		for c := range held {
			c.Close()
		}
	})
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_REGION": "us-east-1",
	} {
		t.Setenv(k, v)
	}
	old := bucketCheckTimeout
	bucketCheckTimeout = 500 * time.Millisecond
	t.Cleanup(func() { bucketCheckTimeout = old })

	began := time.Now()
	_, err = Open(context.Background(), "s3://recordings?region=us-east-1&use_path_style=true&disable_https=true&endpoint="+url.QueryEscape("http://"+ln.Addr().String()))
	took := time.Since(began)
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "did not answer within 500ms") {
		t.Errorf("Open = %v; want it to say the bucket did not answer within 500ms", err)
	}
	if took > 5*time.Second {
		t.Errorf("Open took %s; the check's bound is 500ms", took)
	}
}
