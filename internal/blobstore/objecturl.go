package blobstore

import (
	"net/url"
	"path"
	"path/filepath"
)

// ObjectURL is where the object under key is, as a URL a consumer can
// open: file:///abs/dir/key, or the bucket's scheme and name with the key
// as path (s3://bucket/key, azblob://container/key), without the bucket
// URL's query (region, endpoint), which configures access, not the object.
func (b *Bucket) ObjectURL(key string) string {
	if b.dir != "" {
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(b.dir, filepath.FromSlash(key)))}).String()
	}
	u, err := url.Parse(b.url)
	if err != nil {
		return b.url + "/" + key
	}
	u.RawQuery, u.User = "", nil
	u.Path = "/" + path.Join(u.Path, key)
	return u.String()
}
