package blobstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/blobstore/azuritetest"
	"github.com/vccingest/vccingest/internal/blobstore/blobstoretest"
	"github.com/vccingest/vccingest/internal/blobstore/s3test"
)

func TestS3Bucket(t *testing.T) {
	blobstoretest.Run(t, func(t *testing.T) *blobstore.Bucket {
		b, err := blobstore.Open(context.Background(), s3test.Start(t, "recordings"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestS3MissingBucketIsAClearError(t *testing.T) {
	u := s3test.Start(t, "recordings")
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
