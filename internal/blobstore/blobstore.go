// Package blobstore stores recordings and their metadata sidecars in a bucket
// chosen by URL (gocloud.dev/blob), under vccingest's key layout, and commits
// an object only when the bytes written are the bytes expected: nothing
// partial is ever visible under a final key. On a file:// bucket a committed
// object also survives a power loss (see filecommit.go).
package blobstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob:// URLs
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob" // s3:// URLs
	"gocloud.dev/gcerrors"
)

// Bucket is a bucket opened by Open.
type Bucket struct {
	b     *blob.Bucket
	url   string // for messages; holds no secret
	cloud bool   // s3:// or azblob://

	// file:// buckets: writes are committed by filecommit.go, not fileblob.
	dir   string // the directory, absolute
	fs    commitFS
	tmp   *tempArea
	dirMu sync.RWMutex // see ensureDir
}

// Object describes a stored object.
type Object struct {
	Key    string
	Size   int64
	SHA256 string // lower-case hex
	// Duration is the play time of a WAV recording, read from its header
	// while it streams; 0 for anything else.
	Duration time.Duration
}

// Open opens the bucket at url. Supported: file:///abs/dir and file://./rel/dir
// (the directory is created). The URL is checked before anything is written.
func Open(ctx context.Context, bucketURL string) (*Bucket, error) {
	u, err := url.Parse(bucketURL)
	if err != nil {
		return nil, fmt.Errorf("bucket URL %q: %w", bucketURL, err)
	}
	switch u.Scheme {
	case "file":
		return openFile(u, bucketURL)
	case "s3", "azblob":
		return openCloud(ctx, u, bucketURL)
	case "":
		return nil, fmt.Errorf("bucket URL %q has no scheme; use file:///path/to/dir, s3://bucket or azblob://container", bucketURL)
	default:
		return nil, fmt.Errorf("bucket URL %q: scheme %q is not supported; use file:///path/to/dir, s3://bucket or azblob://container", bucketURL, u.Scheme)
	}
}

// bucketCheckTimeout bounds the check that a cloud bucket is there.
var bucketCheckTimeout = 30 * time.Second // a test may shorten it

// ErrNoAnswer is in Open's error when the bucket's endpoint took the
// connection and did not answer the check that the bucket is there: the
// backend is out of reach, not misconfigured.
var ErrNoAnswer = errors.New("no answer")

// openCloud opens an S3 (s3://bucket?region=…&endpoint=…&use_path_style=true)
// or Azure Blob Storage (azblob://container, account from AZURE_STORAGE_*)
// bucket through gocloud.dev's URL openers, and checks that it is there and
// reachable with the credentials at hand before anything is downloaded.
func openCloud(ctx context.Context, u *url.URL, raw string) (*Bucket, error) {
	shown := u.Scheme + "://" + u.Host // query parameters may name endpoints and accounts, never keys
	b, err := blob.OpenBucket(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", shown, err)
	}
	// An endpoint that takes the connection and never answers must not
	// hang start-up.
	checkCtx, cancel := context.WithTimeout(ctx, bucketCheckTimeout)
	ok, err := b.IsAccessible(checkCtx)
	timedOut := errors.Is(checkCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	if err != nil {
		b.Close()
		if timedOut {
			return nil, fmt.Errorf("bucket %s did not answer within %s (%w): check the endpoint and the network", shown, bucketCheckTimeout, ErrNoAnswer)
		}
		return nil, fmt.Errorf("bucket %s is not reachable with these credentials: %w", shown, err)
	}
	if !ok {
		b.Close()
		return nil, fmt.Errorf("bucket %s does not exist: create it, or fix the bucket URL", shown)
	}
	return &Bucket{b: b, url: raw, cloud: true}, nil
}

func openFile(u *url.URL, raw string) (*Bucket, error) {
	dir := u.Host + u.Path // file://./rel has Host "."; file:///abs has Host ""
	if u.Opaque != "" {
		dir = u.Opaque
	}
	if dir == "" {
		return nil, fmt.Errorf("bucket URL %q names no directory", raw)
	}
	dir, err := filepath.Abs(filepath.FromSlash(dir))
	if err != nil {
		return nil, fmt.Errorf("bucket URL %q: %w", raw, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("bucket directory %s cannot be created: %w", dir, err)
	}
	// fileblob reads, lists and deletes; writes are vccingest's own (see
	// filecommit.go) and write no .attrs files.
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite, DirFileMode: 0o750})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", dir, err)
	}
	return &Bucket{b: b, url: raw, dir: dir, fs: osFS{}, tmp: newTempArea(dir)}, nil
}

// Close releases the bucket. A file bucket's temporary directory goes with
// it, so no write may be in progress.
func (b *Bucket) Close() error {
	var err error
	if b.tmp != nil {
		err = b.tmp.close()
	}
	return errors.Join(err, b.b.Close())
}

// String returns the bucket URL.
func (b *Bucket) String() string { return b.url }

// copyBufs are the buffers uploads stream through: big enough that a
// transfer costs few system calls, pooled so memory stays flat.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// onlyReader hides a reader's WriteTo so that CopyBuffer uses the buffer.
type onlyReader struct{ io.Reader }

// ErrMismatch reports a transfer whose length differs from the expected one.
var ErrMismatch = errors.New("size mismatch")

// Put streams r into the object key, hashing as it goes, and commits it only
// if r ends cleanly after exactly wantSize bytes (wantSize < 0: any size).
// Otherwise the write is aborted and nothing appears under key. Memory use is
// constant whatever the size.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, wantSize int64) (Object, error) {
	return b.put(ctx, key, r, wantSize, "")
}

func (b *Bucket) put(ctx context.Context, key string, r io.Reader, wantSize int64, contentType string) (Object, error) {
	if err := checkKey(key); err != nil {
		return Object{}, err
	}
	if b.dir != "" {
		return b.putFile(ctx, key, r, wantSize)
	}
	// S3 and Azure: cancelling the writer's context before Close aborts the
	// upload (gocloud semantics): that is how a bad transfer is kept from
	// being committed.
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	opts := &blob.WriterOptions{ContentType: contentType, DisableContentTypeDetection: true}
	if b.cloud {
		// One 5 MiB part in flight per upload: memory stays flat whatever
		// the recording size and the download concurrency.
		opts.BufferSize, opts.MaxConcurrency = 5<<20, 1
	}
	w, err := b.b.NewWriter(wctx, key, opts)
	if err != nil {
		return Object{}, fmt.Errorf("write %s: %w", key, err)
	}
	h, hd := sha256.New(), &head{}
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(w, h, hd), onlyReader{r}, *buf)
	copyBufs.Put(buf)
	if err == nil && wantSize >= 0 && n != wantSize {
		err = fmt.Errorf("%w: got %d bytes, want %d", ErrMismatch, n, wantSize)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		abort()
		closeAborted(w)
		return Object{}, fmt.Errorf("write %s: not committed: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return Object{}, fmt.Errorf("commit %s: %w", key, err)
	}
	d, _ := wavDuration(hd.buf, n)
	return Object{Key: key, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Duration: d}, nil
}

// closeAborted closes a writer whose context is cancelled, which makes
// gocloud.dev abort the upload. gocloud.dev v0.47's azureblob writer can
// dereference a nil pipe in Close after such an abort (the upload goroutine
// clears it concurrently); the upload is aborted either way, so that panic
// is contained here rather than taking the process down.
func closeAborted(w *blob.Writer) {
	defer func() { _ = recover() }()
	_ = w.Close()
}

// Existing reports whether key holds a complete object of wantSize bytes
// (wantSize <= 0: any size), and if so reads it back to return its sha256.
// It lets a restart adopt an object whose commit landed just before a crash
// instead of downloading it again.
func (b *Bucket) Existing(ctx context.Context, key string, wantSize int64) (Object, bool, error) {
	if err := checkKey(key); err != nil {
		return Object{}, false, err
	}
	attrs, err := b.b.Attributes(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return Object{}, false, nil
	}
	if err != nil {
		return Object{}, false, fmt.Errorf("stat %s: %w", key, err)
	}
	if wantSize > 0 && attrs.Size != wantSize {
		return Object{}, false, nil
	}
	rd, err := b.b.NewReader(ctx, key, nil)
	if err != nil {
		return Object{}, false, fmt.Errorf("read %s: %w", key, err)
	}
	defer rd.Close()
	h, hd := sha256.New(), &head{}
	n, err := io.Copy(io.MultiWriter(h, hd), rd)
	if err != nil {
		return Object{}, false, fmt.Errorf("read %s: %w", key, err)
	}
	d, _ := wavDuration(hd.buf, n)
	return Object{Key: key, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Duration: d}, true, nil
}

// ReadAll returns a small object's content (sidecars, probes).
func (b *Bucket) ReadAll(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	data, err := b.b.ReadAll(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return data, nil
}

// Delete removes key; a missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := b.b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// List calls fn for every object under prefix, in key order.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	it := b.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if strings.HasPrefix(obj.Key, tempRoot+"/") || isTempName(obj.Key) {
			continue // a write in progress (isTempName: an older version's), or one a crash cut short
		}
		if err := fn(obj.Key, obj.Size); err != nil {
			return err
		}
	}
}

// Probe checks that the bucket is writable and readable: it writes a small
// object, reads it back, compares, and deletes it.
func (b *Bucket) Probe(ctx context.Context) error {
	key := fmt.Sprintf(".vccingest-probe/%d", time.Now().UnixNano())
	want := []byte("vccingest bucket probe\n")
	if _, err := b.put(ctx, key, strings.NewReader(string(want)), int64(len(want)), "text/plain"); err != nil {
		return fmt.Errorf("bucket %s is not writable: %w", b.url, err)
	}
	got, err := b.ReadAll(ctx, key)
	if err != nil {
		return fmt.Errorf("bucket %s: wrote a probe but cannot read it back: %w", b.url, err)
	}
	if string(got) != string(want) {
		return fmt.Errorf("bucket %s: the probe read back differs from what was written", b.url)
	}
	return b.Delete(ctx, key)
}
