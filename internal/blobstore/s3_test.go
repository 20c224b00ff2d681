package blobstore_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/blobstore/azuritetest"
	"github.com/vccingest/vccingest/internal/blobstore/blobstoretest"
)

// StartS3 serves an in-process S3 with one bucket on loopback and points the
// AWS SDK's environment at it (static keys, no metadata service, no shared
// config). It returns the s3:// URL of the bucket.
func startS3(t *testing.T, bucket string) string {
	t.Helper()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_REGION": "us-east-1",
	} {
		t.Setenv(k, v)
	}
	return "s3://" + bucket + "?region=us-east-1&use_path_style=true&disable_https=true&endpoint=" + url.QueryEscape(srv.URL)
}

func TestS3Bucket(t *testing.T) {
	blobstoretest.Run(t, func(t *testing.T) *blobstore.Bucket {
		b, err := blobstore.Open(context.Background(), startS3(t, "recordings"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestS3MissingBucketIsAClearError(t *testing.T) {
	u := startS3(t, "recordings")
	_, err := blobstore.Open(context.Background(), strings.Replace(u, "s3://recordings", "s3://no-such-bucket", 1))
	if err == nil || !strings.Contains(err.Error(), "no-such-bucket") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing bucket: %v", err)
	}
}

func TestAzureBucket(t *testing.T) {
	blobstoretest.Run(t, func(t *testing.T) *blobstore.Bucket {
		b, err := blobstore.Open(context.Background(), azuritetest.Start(t, "recordings"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestAzureMissingContainerIsAClearError(t *testing.T) {
	u := azuritetest.Start(t, "recordings")
	if _, err := blobstore.Open(context.Background(), strings.Replace(u, "azblob://recordings", "azblob://missing", 1)); err == nil || !strings.Contains(err.Error(), "azblob://missing does not exist") {
		t.Errorf("missing container: %v", err)
	}
}
