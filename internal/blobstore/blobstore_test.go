package blobstore_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

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

// Temporary files of older versions (fileblob's, beside the final name)
// are hidden from List, and swept once unwritten for a day; once a walk
// finds none left the bucket is not walked again.
func TestSweepTemp_OlderVersionsTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := blobstore.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Put(ctx, "t/2024/03/04/g/rec.wav", strings.NewReader("ok"), 2); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "t/2024/03/04/g/other.wav.17a2b3c4d5e6f.tmp")
	young := filepath.Join(dir, "t/2024/03/04/g/third.wav.17a2b3c4d5e70.tmp") // an older version writing now
	keep := filepath.Join(dir, "t/2024/03/04/g/notes.tmp")                    // not fileblob's pattern
	for _, p := range []string{stale, young, keep} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-25 * time.Hour)
	_ = os.Chtimes(stale, old, old)
	var listed []string
	if err := b.List(ctx, "", func(k string, _ int64) error { listed = append(listed, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"t/2024/03/04/g/notes.tmp", "t/2024/03/04/g/rec.wav"}; !slices.Equal(listed, want) {
		t.Errorf("List = %v, want %v", listed, want)
	}

	if n, err := b.SweepTemp(ctx); err != nil || n != 1 {
		t.Fatalf("SweepTemp = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temporary file still there")
	}
	for _, p := range []string{young, keep, filepath.Join(dir, "t/2024/03/04/g/rec.wav")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}
	// The young one is swept once it has aged; that walk finds none left.
	_ = os.Chtimes(young, old, old)
	if n, err := b.SweepTemp(ctx); err != nil || n != 1 {
		t.Fatalf("SweepTemp once the young one aged = %d, %v; want 1", n, err)
	}
	// From now on sweeps look only in the temporary area.
	late := filepath.Join(dir, "t/2024/03/04/g/late.wav.17a2b3c4d5e71.tmp")
	if err := os.WriteFile(late, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(late, old, old)
	if n, err := b.SweepTemp(ctx); err != nil || n != 0 {
		t.Fatalf("SweepTemp after a clean walk = %d, %v; want 0 (no walk)", n, err)
	}
}

// Objects an older version wrote through fileblob, with its .attrs files,
// read, list and are adopted as before; overwriting one drops its .attrs.
func TestFileBucket_ObjectsWithAttrs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := fileblob.OpenBucket(dir, nil) // writes .attrs files
	if err != nil {
		t.Fatal(err)
	}
	key := "t/2024/03/04/g/rec.wav"
	if err := old.WriteAll(ctx, key, []byte("hello"), &blob.WriterOptions{ContentType: "audio/wav"}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	attrs := filepath.Join(dir, filepath.FromSlash(key)) + ".attrs"
	if _, err := os.Stat(attrs); err != nil {
		t.Fatalf("fileblob wrote no .attrs file: %v", err)
	}
	b, err := blobstore.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var listed []string
	if err := b.List(ctx, "", func(k string, _ int64) error { listed = append(listed, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listed, []string{key}) {
		t.Errorf("List = %v, want [%s]", listed, key)
	}
	if obj, found, err := b.Existing(ctx, key, 5); err != nil || !found || obj.Size != 5 {
		t.Errorf("Existing = %+v, %v, %v", obj, found, err)
	}
	if _, err := b.Put(ctx, key, strings.NewReader("bye"), 3); err != nil {
		t.Fatal(err)
	}
	if got, err := b.ReadAll(ctx, key); err != nil || string(got) != "bye" {
		t.Errorf("after overwrite: %q, %v", got, err)
	}
	if _, err := os.Stat(attrs); !os.IsNotExist(err) {
		t.Errorf("the .attrs file of the bytes replaced is still there (%v)", err)
	}
}

// Nothing but objects is left in the bucket directory once a Bucket that
// wrote (and failed a write) is closed.
func TestFileBucket_CloseLeavesOnlyObjects(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := blobstore.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "t/2024/03/04/g/rec.wav", strings.NewReader("ok"), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "t/2024/03/04/g/short.wav", strings.NewReader("o"), 2); err == nil {
		t.Fatal("short write committed")
	}
	if _, err := b.SweepTemp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); !slices.Equal(got, []string{"t/2024/03/04/g/rec.wav"}) {
		t.Errorf("files left: %v", got)
	}
	if _, err := b.Put(ctx, "t/2024/03/04/g/late.wav", strings.NewReader("ok"), 2); err == nil {
		t.Error("a write after Close succeeded")
	}
}

// files lists the regular files under dir, relative, slash-separated.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var fs []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			fs = append(fs, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// kill -9 in the middle of a write: the writer's temporary directory holds
// the partial file, nothing is under the key, and another Bucket's sweep
// removes the directory.
func TestFileBucket_KilledWriter(t *testing.T) {
	ctx := context.Background()
	var dir string
	key := "t/2024/03/04/g/rec.wav"
	blobstoretest.KilledWriter(t, func() string { dir = t.TempDir(); return "file://" + dir }, key)
	left := files(t, dir)
	if len(left) != 2 || !strings.HasPrefix(left[0], ".vccingest-tmp/") || !strings.HasSuffix(left[0], "/1.part") || !strings.HasSuffix(left[1], "/lock") {
		t.Fatalf("the killed writer left %v, want its lock and one .part file in its temporary directory", left)
	}
	if info, err := os.Stat(filepath.Join(dir, left[0])); err != nil || info.Size() < 2<<20 {
		t.Fatalf("partial file: %v, %v; want at least 2 MiB written before the kill", info, err)
	}
	b, err := blobstore.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if n, err := b.SweepTemp(ctx); n != 1 || err != nil {
		t.Fatalf("SweepTemp = %d, %v; want 1", n, err)
	}
	if left := files(t, dir); len(left) != 0 {
		t.Errorf("after the sweep: %v", left)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, ".vccingest-tmp"))
	for _, e := range entries {
		if e.Name() != "legacy-swept" {
			t.Errorf("temporary area still holds %s", e.Name())
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
