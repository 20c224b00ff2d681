// Package s3test serves an in-process S3 (github.com/johannesboyne/gofakes3)
// on loopback for tests of s3:// buckets.
package s3test

import (
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Start serves an S3 with one bucket for the test and points the AWS SDK's
// environment at it (static keys, no metadata service, no shared config,
// so nothing leaves loopback). It returns the s3:// URL of the bucket.
func Start(t testing.TB, bucket string) string {
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
