package blobstore_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/blobstore/blobstoretest"
)

func openFile(t *testing.T) *blobstore.Bucket {
	t.Helper()
	b, err := blobstore.Open(context.Background(), "file://"+filepath.ToSlash(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestFileBucket(t *testing.T) { blobstoretest.Run(t, openFile) }

func TestOpen_Errors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for url, want := range map[string]string{
		"/no/scheme":                "no scheme",
		"gs://bucket":               "not supported",
		"file://" + file + "/blobs": "plain-file",
		"file://":                   "names no directory",
	} {
		if _, err := blobstore.Open(context.Background(), url); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want error containing %q", url, err, want)
		}
	}
}

func TestOpen_RelativeDir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	b, err := blobstore.Open(context.Background(), "file://./data/blobs")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "blobs")); err != nil {
		t.Fatalf("relative bucket dir not created: %v", err)
	}
}

func TestSweepTemp_RemovesOnlyStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	b, err := blobstore.Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Put(context.Background(), "t/2024/03/04/g/rec.wav", strings.NewReader("ok"), 2); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "t/2024/03/04/g/other.wav.17a2b3c4d5e6f.tmp")
	if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "t/2024/03/04/g/notes.tmp") // not fileblob's pattern
	if err := os.WriteFile(keep, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	_ = os.Chtimes(stale, old, old)
	n, err := b.SweepTemp(time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("SweepTemp = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temp file still there")
	}
	for _, p := range []string{keep, filepath.Join(dir, "t/2024/03/04/g/rec.wav")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}
}

func TestExtForMediaType(t *testing.T) {
	for mt, want := range map[string]string{"audio/wav": "wav", "Audio/X-WAV": "wav", "audio/mpeg": "mp3", "application/json; charset=utf-8": "json", "video/mp4": "mp4", "": "bin", "x/y": "bin"} {
		if got := blobstore.ExtForMediaType(mt); got != want {
			t.Errorf("ExtForMediaType(%q) = %q, want %q", mt, got, want)
		}
	}
}

// zeroReader yields n zero bytes without allocating them.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// BenchmarkPut256MiB shows that a put streams: allocations stay small and
// flat whatever the object size (see B/op).
func BenchmarkPut256MiB(b *testing.B) {
	bucket, err := blobstore.Open(context.Background(), "file://"+b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer bucket.Close()
	const size = 256 << 20
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bucket.Put(context.Background(), "t/2024/03/04/g/big.wav", &zeroReader{n: size}, size); err != nil {
			b.Fatal(err)
		}
	}
}
