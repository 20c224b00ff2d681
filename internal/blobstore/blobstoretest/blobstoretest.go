// Package blobstoretest is the conformance suite every bucket backend passes:
// one set of behaviours (verified commits, no partial objects, hostile keys
// refused), run against each backend's real service.
package blobstoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore"
)

// Open returns a fresh, empty bucket for one test.
type Open func(t *testing.T) *blobstore.Bucket

// Run runs the suite.
func Run(t *testing.T, open Open) {
	t.Run("RoundTripWithSHA256", func(t *testing.T) { roundTrip(t, open(t)) })
	t.Run("ShortReaderNotCommitted", func(t *testing.T) { notCommitted(t, open(t), "short") })
	t.Run("LongReaderNotCommitted", func(t *testing.T) { notCommitted(t, open(t), "long") })
	t.Run("ReaderErrorNotCommitted", func(t *testing.T) { notCommitted(t, open(t), "error") })
	t.Run("CancelNotCommitted", func(t *testing.T) { notCommitted(t, open(t), "cancel") })
	t.Run("FailedOverwriteKeepsOld", func(t *testing.T) { failedOverwriteKeepsOld(t, open(t)) })
	t.Run("HostileKeysRefused", func(t *testing.T) { hostileKeys(t, open(t)) })
	t.Run("ExistingAdoptsCompleteObject", func(t *testing.T) { existing(t, open(t)) })
	t.Run("SidecarRoundTrip", func(t *testing.T) { sidecar(t, open(t)) })
	t.Run("Probe", func(t *testing.T) {
		if err := open(t).Probe(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func keys(t *testing.T, b *blobstore.Bucket) []string {
	t.Helper()
	var ks []string
	if err := b.List(context.Background(), "", func(k string, _ int64) error { ks = append(ks, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return ks
}

func roundTrip(t *testing.T, b *blobstore.Bucket) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("RIFF-audio-"), 100_000)
	obj, err := b.Put(ctx, "t/2024/03/04/abc/rec.wav", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len(data)) || obj.SHA256 != sum(data) {
		t.Fatalf("object %+v, want size %d sha %s", obj, len(data), sum(data))
	}
	got, err := b.ReadAll(ctx, obj.Key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, err %v", len(got), err)
	}
	if ks := keys(t, b); len(ks) != 1 || ks[0] != obj.Key {
		t.Fatalf("bucket lists %v", ks)
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func notCommitted(t *testing.T, b *blobstore.Bucket, how string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	data := bytes.Repeat([]byte{7}, 256<<10)
	want := int64(len(data))
	var r io.Reader = bytes.NewReader(data)
	switch how {
	case "short":
		r = bytes.NewReader(data[:len(data)-1])
	case "long":
		want--
	case "error":
		r = &failingReader{r: bytes.NewReader(data[:1000]), err: errors.New("connection reset by peer")}
	case "cancel":
		r = io.MultiReader(bytes.NewReader(data[:1000]), readerFunc(func([]byte) (int, error) { cancel(); return 0, io.EOF }))
	}
	_, err := b.Put(ctx, "t/2024/03/04/abc/rec.wav", r, want)
	if err == nil {
		t.Fatalf("%s transfer was committed", how)
	}
	if ks := keys(t, b); len(ks) != 0 {
		t.Fatalf("after a %s transfer the bucket lists %v", how, ks)
	}
	if _, found, err := b.Existing(context.Background(), "t/2024/03/04/abc/rec.wav", 0); err != nil || found {
		t.Fatalf("Existing after a %s transfer: found=%v err=%v", how, found, err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func failedOverwriteKeepsOld(t *testing.T, b *blobstore.Bucket) {
	ctx := context.Background()
	key := "t/2024/03/04/abc/rec.wav"
	if _, err := b.Put(ctx, key, strings.NewReader("first"), 5); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, key, strings.NewReader("seco"), 6); err == nil {
		t.Fatal("short overwrite committed")
	}
	got, err := b.ReadAll(ctx, key)
	if err != nil || string(got) != "first" {
		t.Fatalf("after a failed overwrite: %q, %v", got, err)
	}
}

func hostileKeys(t *testing.T, b *blobstore.Bucket) {
	ctx := context.Background()
	for _, k := range []string{"", "/abs", "a/../b", "a//b", "./a", "a/./b", "a/.."} {
		if _, err := b.Put(ctx, k, strings.NewReader("x"), 1); !errors.Is(err, blobstore.ErrBadID) {
			t.Errorf("Put(%q): %v, want ErrBadID", k, err)
		}
	}
	start := time.Date(2024, 3, 4, 9, 15, 0, 0, time.UTC)
	for _, id := range []string{"../x", "a/b", `a\b`, "..", ".", ".hidden", "", "a\x00b", "a\nb", "tab\tid", strings.Repeat("x", 201), "bad\xffutf8"} {
		if _, err := blobstore.RecordingKey("t", start, id, "callRecording", "wav"); !errors.Is(err, blobstore.ErrBadID) {
			t.Errorf("RecordingKey with interaction id %q: %v, want ErrBadID", id, err)
		}
		if _, err := blobstore.RecordingKey("t", start, "guid", id, "wav"); !errors.Is(err, blobstore.ErrBadID) {
			t.Errorf("RecordingKey with content id %q: %v, want ErrBadID", id, err)
		}
	}
	if ks := keys(t, b); len(ks) != 0 {
		t.Fatalf("hostile keys wrote %v", ks)
	}
}

func existing(t *testing.T, b *blobstore.Bucket) {
	ctx := context.Background()
	key := "t/2024/03/04/abc/rec.wav"
	if _, found, err := b.Existing(ctx, key, 5); err != nil || found {
		t.Fatalf("empty bucket: found=%v err=%v", found, err)
	}
	if _, err := b.Put(ctx, key, strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	obj, found, err := b.Existing(ctx, key, 5)
	if err != nil || !found || obj.SHA256 != sum([]byte("hello")) || obj.Size != 5 {
		t.Fatalf("Existing = %+v %v %v", obj, found, err)
	}
	if _, found, _ := b.Existing(ctx, key, 6); found {
		t.Fatal("an object of the wrong size was adopted")
	}
}

func sidecar(t *testing.T, b *blobstore.Bucket) {
	ctx := context.Background()
	start := time.Date(2024, 3, 4, 23, 59, 0, 0, time.FixedZone("x", 2*3600)) // 21:59 UTC
	key, err := blobstore.SidecarKey("acme", start, "2480fc2c-bbd7-427c-9439-02f76583aef5")
	if err != nil {
		t.Fatal(err)
	}
	if want := "acme/2024/03/04/2480fc2c-bbd7-427c-9439-02f76583aef5/interaction.json"; key != want {
		t.Fatalf("key %q, want %q (date in UTC)", key, want)
	}
	sc := blobstore.Sidecar{SchemaVersion: blobstore.SidecarSchemaVersion, Tenant: "acme", InteractionID: "2480fc2c-bbd7-427c-9439-02f76583aef5", Start: start.UTC(), Direction: "inbound",
		Agent: &blobstore.Agent{ID: "67833", Name: "Alex Agent"}, Recordings: []blobstore.SidecarRecording{{ContentKey: "callRecording", Bytes: 5, SHA256: sum([]byte("hello"))}}}
	if err := b.WriteSidecar(ctx, key, sc); err != nil {
		t.Fatal(err)
	}
	data, err := b.ReadAll(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"schema_version": 1`, `"interaction_id": "2480fc2c`, `"direction": "inbound"`, `"name": "Alex Agent"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("sidecar lacks %s:\n%s", want, data)
		}
	}
}
