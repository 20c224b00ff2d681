package verify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// The verdict must be able to fail: plant each kind of defect in a perfect
// bucket and check it is found.
func TestBucketDetectsPlantedDefects(t *testing.T) {
	start := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	sim, err := vccsim.New(vccsim.Config{Seed: 1, Start: start, Days: 1, CallsPerDay: 8, FixedRecordingSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	truth := sim.Truth(start, start.AddDate(0, 0, 1), "admin")
	dir := t.TempDir()
	write := func(rel string, b []byte) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A perfect bucket, from the simulator's own bytes.
	var keys []string
	for _, it := range truth.Interactions {
		for _, c := range it.Content {
			if it.Visible && IsRecording(c.Type) {
				key := "acme/" + it.Start.Format("2006/01/02") + "/" + it.GUID + "/" + c.ContentKey + ".wav"
				write(key, sim.ContentBytes(it.GUID, c.ContentKey))
				write("acme/"+it.Start.Format("2006/01/02")+"/"+it.GUID+"/interaction.json", []byte("{}"))
				keys = append(keys, key)
			}
		}
	}
	v, err := Bucket(dir, "acme", truth)
	if err != nil || !v.OK() || v.Expected != len(keys) || v.Expected < 3 {
		t.Fatalf("perfect bucket: %v %v", v, err)
	}

	write(strings.Replace(keys[0], ".wav", ".bin", 1), []byte("dup"))                            // duplicate
	write(keys[1], []byte("corrupt"))                                                            // corrupt
	write(keys[2]+".0123abcd.tmp", []byte("partial"))                                            // partial
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(keys[len(keys)-1]))); err != nil { // missing
		t.Fatal(err)
	}
	write("acme/2024/03/04/not-a-real-call/callRecording.wav", []byte("x")) // unexpected
	v, err = Bucket(dir, "acme", truth)
	if err != nil {
		t.Fatal(err)
	}
	if v.OK() || len(v.Duplicate) != 1 || len(v.Corrupt) != 1 || len(v.Partial) != 1 || len(v.Missing) != 1 || len(v.Unexpected) != 1 {
		t.Fatalf("planted one of each defect, got %s", v)
	}

	hits, err := Secrets([]string{"s3cret-value", "never-there"}, dir)
	if err != nil || len(hits) != 0 {
		t.Fatalf("clean scan: %v %v", hits, err)
	}
	write("logs/run.log", []byte(strings.Repeat("x", 3<<20)+"token s3cret-value here"))
	if hits, _ := Secrets([]string{"s3cret-value"}, dir); len(hits) != 1 {
		t.Fatalf("planted secret not found: %v", hits)
	}
}
