// Package blobstoretest is the conformance suite every bucket backend passes:
// one set of behaviours (verified commits, no partial objects, hostile keys
// refused), run against each backend's real service.
package blobstoretest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
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
	t.Run("FailedMidwayLeavesNothing", func(t *testing.T) { failedMidway(t, open(t)) })
	t.Run("InFlightWriteSurvivesSweeps", func(t *testing.T) { inFlightSurvivesSweeps(t, open(t)) })
	t.Run("KilledWriterSwept", func(t *testing.T) { killedWriterSwept(t, open) })
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
	for _, id := range []string{"../x", "a/b", `a\b`, "..", ".", ".hidden", "", "a\x00b", "a\nb", "tab\tid", strings.Repeat("x", 201), "bad\xffutf8",
		"a..b", "trailing.",
		// bidi controls (U+202A–U+202E, U+2066–U+2069) and zero-width
		// characters (U+200B–U+200D, U+FEFF): an id that shows as another
		"2480fc2c\u202e5fea", "\u202aguid", "guid\u202c", "\u2066guid\u2069", "gu\u2067id", "gu\u2068id",
		"gu\u200bid", "gu\u200cid", "gu\u200did", "\ufeffguid", "guid\ufeff"} {
		if err := blobstore.ValidateID(id); !errors.Is(err, blobstore.ErrBadID) {
			t.Errorf("ValidateID(%q): %v, want ErrBadID", id, err)
		}
		if _, err := blobstore.RecordingKey("t", start, id, "callRecording", "wav"); !errors.Is(err, blobstore.ErrBadID) {
			t.Errorf("RecordingKey with interaction id %q: %v, want ErrBadID", id, err)
		}
		if _, err := blobstore.RecordingKey("t", start, "guid", id, "wav"); !errors.Is(err, blobstore.ErrBadID) {
			t.Errorf("RecordingKey with content id %q: %v, want ErrBadID", id, err)
		}
		if _, err := blobstore.SidecarKey(id, start, "guid"); !errors.Is(err, blobstore.ErrBadID) {
			t.Errorf("SidecarKey with tenant %q: %v, want ErrBadID", id, err)
		}
	}
	for _, ext := range []string{"", "/../../x", "w.av", "WAV", "wa v", "w\u202ev", strings.Repeat("a", 17)} {
		if _, err := blobstore.RecordingKey("t", start, "guid", "callRecording", ext); !errors.Is(err, blobstore.ErrBadID) {
			t.Errorf("RecordingKey with extension %q: %v, want ErrBadID", ext, err)
		}
	}
	for _, id := range []string{"2480fc2c-bbd7-427c-9439-02f76583aef5", "callRecording", "a.b", "Ünïcødé", "x_y-z~1"} {
		if err := blobstore.ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q): %v, want it accepted", id, err)
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
	sc := blobstore.Sidecar{SchemaVersion: blobstore.SidecarSchemaVersion, Tenant: "acme", InteractionID: "2480fc2c-bbd7-427c-9439-02f76583aef5",
		Call:       blobstore.Call{Start: start.UTC(), Direction: "inbound", Agent: &blobstore.Agent{ID: "67833", Name: "Alex Agent"}},
		Recordings: []blobstore.SidecarRecording{{ContentKey: "callRecording", Bytes: 5, SHA256: sum([]byte("hello"))}}}
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

// gatedReader serves size bytes of data, stopping after the first open
// bytes until gate is closed; reached is closed when it stops there.
type gatedReader struct {
	data          []byte
	open          int
	reached, gate chan struct{}
	off           int
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.off == g.open && g.reached != nil {
		close(g.reached)
		g.reached = nil
		<-g.gate
	}
	if g.off == len(g.data) {
		return 0, io.EOF
	}
	end := len(g.data)
	if g.off < g.open {
		end = g.open
	}
	n := copy(p, g.data[g.off:end])
	g.off += n
	return n, nil
}

// failedMidway: a write whose source fails after megabytes leaves no
// object, and nothing for a sweep to find: the write cleaned up after
// itself.
func failedMidway(t *testing.T, b *blobstore.Bucket) {
	ctx := context.Background()
	key := "t/2024/03/04/abc/rec.wav"
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
	r := &failingReader{r: bytes.NewReader(data[:2<<20]), err: errors.New("connection reset by peer")}
	if _, err := b.Put(ctx, key, r, int64(len(data))); err == nil || !strings.Contains(err.Error(), key) {
		t.Fatalf("Put = %v, want an error naming %s", err, key)
	}
	if ks := keys(t, b); len(ks) != 0 {
		t.Fatalf("bucket lists %v", ks)
	}
	if _, found, err := b.Existing(ctx, key, 0); err != nil || found {
		t.Fatalf("Existing: found=%v err=%v", found, err)
	}
	if n, err := b.SweepTemp(ctx); n != 0 || err != nil {
		t.Fatalf("SweepTemp after a failed write = %d, %v; want 0 (the write removes its own temporary file)", n, err)
	}
}

// inFlightSurvivesSweeps: sweeps by the writing Bucket and by a second one
// on the same bucket (as another process would) leave a write in progress
// alone; it then commits.
func inFlightSurvivesSweeps(t *testing.T, b *blobstore.Bucket) {
	ctx := context.Background()
	other, err := blobstore.Open(ctx, b.String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	key := "t/2024/03/04/abc/rec.wav"
	data := bytes.Repeat([]byte("RIFF-audio-"), 300_000)
	r := &gatedReader{data: data, open: 1 << 20, reached: make(chan struct{}), gate: make(chan struct{})}
	reached := r.reached
	type result struct {
		obj blobstore.Object
		err error
	}
	done := make(chan result, 1)
	go func() {
		obj, err := b.Put(ctx, key, r, int64(len(data)))
		done <- result{obj, err}
	}()
	select {
	case <-reached:
	case res := <-done:
		t.Fatalf("Put returned before its reader was done: %v", res.err)
	}
	for name, sweeper := range map[string]*blobstore.Bucket{"writer": b, "other": other} {
		if n, err := sweeper.SweepTemp(ctx); n != 0 || err != nil {
			t.Errorf("SweepTemp by the %s during a write = %d, %v; want 0", name, n, err)
		}
	}
	if ks := keys(t, other); len(ks) != 0 {
		t.Errorf("a write in progress is listed: %v", ks)
	}
	close(r.gate)
	res := <-done
	if res.err != nil {
		t.Fatalf("the write the sweeps ran beside failed: %v", res.err)
	}
	got, err := other.ReadAll(ctx, key)
	if err != nil || !bytes.Equal(got, data) || res.obj.SHA256 != sum(data) {
		t.Fatalf("read back %d of %d bytes (%v), sha %s want %s", len(got), len(data), err, res.obj.SHA256, sum(data))
	}
}

// killedWriterSwept: a process killed (SIGKILL) in the middle of a write
// leaves nothing under the key, and another Bucket's sweep removes what it
// left (file buckets: its temporary file; elsewhere there is none).
func killedWriterSwept(t *testing.T, open Open) {
	ctx := context.Background()
	key := "t/2024/03/04/abc/rec.wav"
	var b *blobstore.Bucket
	KilledWriter(t, func() string { b = open(t); return b.String() }, key)
	sweeper, err := blobstore.Open(ctx, b.String())
	if err != nil {
		t.Fatal(err)
	}
	defer sweeper.Close()
	want := 0
	if strings.HasPrefix(b.String(), "file:") {
		want = 1
	}
	if n, err := sweeper.SweepTemp(ctx); n != want || err != nil {
		t.Errorf("SweepTemp after the writer was killed = %d, %v; want %d", n, err, want)
	}
	if n, err := sweeper.SweepTemp(ctx); n != 0 || err != nil {
		t.Errorf("second SweepTemp = %d, %v; want 0", n, err)
	}
	if ks := keys(t, sweeper); len(ks) != 0 {
		t.Errorf("after a killed write the bucket lists %v", ks)
	}
	if _, found, err := sweeper.Existing(ctx, key, 0); err != nil || found {
		t.Errorf("Existing after a killed write: found=%v err=%v", found, err)
	}
}

const (
	killedWriterURL = "VCCINGEST_BLOBSTORETEST_KILLED_WRITER_URL"
	killedWriterKey = "VCCINGEST_BLOBSTORETEST_KILLED_WRITER_KEY"
	writingMarker   = "blobstoretest: the write is under way"
)

// KilledWriter runs the test binary again as a child process that opens the
// bucket at bucketURL() and writes key, and kills it (SIGKILL) once some
// megabytes of the write have reached the bucket. In the child, KilledWriter
// is where that write happens and it never returns; so a test calls it
// before doing anything else, and opens its bucket in bucketURL (which the
// child does not call).
func KilledWriter(t *testing.T, bucketURL func() string, key string) {
	t.Helper()
	if u := os.Getenv(killedWriterURL); u != "" {
		childWrite(u, os.Getenv(killedWriterKey)) // never returns
	}
	u := bucketURL()
	var run []string
	for _, part := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(run, "/"), "-test.timeout=2m")
	cmd.Env = append(os.Environ(), killedWriterURL+"="+u, killedWriterKey+"="+key)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == writingMarker {
				started <- true
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		started <- false
	}()
	select {
	case ok := <-started:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("the writer process ended before its write was under way:\n%s", stderr.String())
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the writer process did not start writing within a minute:\n%s", stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// childWrite is the child's side of KilledWriter: a write of 16 MiB that
// stops for good after 2 MiB, saying so on stdout.
func childWrite(bucketURL, key string) {
	ctx := context.Background()
	b, err := blobstore.Open(ctx, bucketURL)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	data := bytes.Repeat([]byte{0x5a}, 16<<20)
	reached := make(chan struct{})
	r := &gatedReader{data: data, open: 2 << 20, reached: reached, gate: make(chan struct{})}
	go func() {
		<-reached // not r.reached: Read clears the field as it closes the channel
		// The reader is asked for more only once what it gave is written.
		os.Stdout.WriteString(writingMarker + "\n")
	}()
	_, err = b.Put(ctx, key, r, int64(len(data)))
	os.Stderr.WriteString("the write returned, though it should block until killed: " + errString(err) + "\n")
	os.Exit(1)
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
