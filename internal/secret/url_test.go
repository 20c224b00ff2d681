package secret

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want, lack string }{
		{"postgres://app:hunter2@db/vcc", "postgres://app:xxxxx@db/vcc", "hunter2"},
		{"postgres://app@db/vcc?password=hunter2&sslmode=require", "sslmode=require", "hunter2"},
		{"postgres://db/vcc?sslpassword=hunter2", "sslpassword=xxxxx", "hunter2"},
		{"s3://bucket?region=eu-west-1&endpoint=http://127.0.0.1:9000", "region=eu-west-1", "xxxxx"},
		{"https://acct.blob.core.windows.net/c?sv=2022&sig=abcdef0123", "sig=xxxxx", "abcdef0123"},
		{"postgres://a b:%zz@db", "(a URL that does not parse)", "%zz"},
	} {
		got := RedactURL(tc.in)
		if !strings.Contains(got, tc.want) || strings.Contains(got, tc.lack) {
			t.Errorf("RedactURL(%q) = %q; want it to show %q and not %q", tc.in, got, tc.want, tc.lack)
		}
	}
}
