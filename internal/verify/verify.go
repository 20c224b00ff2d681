// Package verify checks a file bucket written by vccingest against the VCC
// simulator's ground truth: every recording the credential can see is stored
// exactly once, under its key, with the right bytes, and nothing else (no
// partial, temporary or duplicate object) is in the bucket. The benchmark
// and chaos harness reports its verdict.
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// Verdict is what the bucket holds compared with ground truth. Each list
// holds bucket-relative paths.
type Verdict struct {
	Expected   int      `json:"expected"`   // recordings the credential can see
	Stored     int      `json:"stored"`     // of those, stored with the right bytes
	Missing    []string `json:"missing"`    // expected, not in the bucket
	Corrupt    []string `json:"corrupt"`    // under the right key with wrong bytes
	Duplicate  []string `json:"duplicate"`  // a second object for a recording stored already
	Partial    []string `json:"partial"`    // temporary or leftover objects
	Unexpected []string `json:"unexpected"` // anything else (e.g. a hidden recording)
	Sidecars   int      `json:"sidecars"`   // interaction.json files found
}

// OK reports a perfect bucket.
func (v Verdict) OK() bool {
	return len(v.Missing)+len(v.Corrupt)+len(v.Duplicate)+len(v.Partial)+len(v.Unexpected) == 0 && v.Stored == v.Expected
}

func (v Verdict) String() string {
	return fmt.Sprintf("%d of %d stored; missing %d, corrupt %d, duplicate %d, partial %d, unexpected %d",
		v.Stored, v.Expected, len(v.Missing), len(v.Corrupt), len(v.Duplicate), len(v.Partial), len(v.Unexpected))
}

// IsRecording reports whether a content type is one vccingest downloads.
func IsRecording(itemType string) bool {
	switch itemType {
	case "callRecording", "voicemail", "ivrAudioRecording":
		return true
	}
	return false
}

// Bucket checks the file bucket at dir (the directory a file:// bucket URL
// names) for tenant against truth.
func Bucket(dir, tenant string, truth vccsim.Truth) (Verdict, error) {
	var v Verdict
	want := map[string]string{}  // key → sha256
	owner := map[string]string{} // "guid/contentKey" → key
	for _, it := range truth.Interactions {
		if !it.Visible || blobstore.ValidateID(it.GUID) != nil {
			continue
		}
		for _, c := range it.Content {
			if !IsRecording(c.Type) {
				continue
			}
			key, err := blobstore.RecordingKey(tenant, it.Start, it.GUID, c.ContentKey, blobstore.ExtForMediaType(c.ContentType))
			if err != nil {
				continue
			}
			want[key] = c.SHA256
			owner[it.GUID+"/"+c.ContentKey] = key
		}
	}
	v.Expected = len(want)
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		base := filepath.Base(key)
		switch {
		case strings.HasSuffix(base, ".attrs"):
			return nil // fileblob's attribute files
		case strings.HasPrefix(key, ".vccingest-tmp/") && base == "lock":
			return nil // a running process's temp area (package blobstore)
		case strings.HasPrefix(key, ".vccingest-tmp/") || strings.HasSuffix(base, ".tmp"):
			v.Partial = append(v.Partial, key)
			return nil
		case base == "interaction.json":
			v.Sidecars++
			return nil
		}
		sum, ok := want[key]
		if !ok {
			// Another object for a recording that has a key of its own is a
			// duplicate (another date, another extension); anything else is
			// unexpected.
			parts := strings.Split(key, "/")
			if len(parts) >= 2 {
				guid, content := parts[len(parts)-2], strings.TrimSuffix(base, filepath.Ext(base))
				if _, dup := owner[guid+"/"+content]; dup {
					v.Duplicate = append(v.Duplicate, key)
					return nil
				}
			}
			v.Unexpected = append(v.Unexpected, key)
			return nil
		}
		got, err := fileSHA256(path)
		if err != nil {
			return err
		}
		seen[key] = true
		if got != sum {
			v.Corrupt = append(v.Corrupt, key)
			return nil
		}
		v.Stored++
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return v, fmt.Errorf("walk bucket %s: %w", dir, err)
	}
	for key := range want {
		if !seen[key] {
			v.Missing = append(v.Missing, key)
		}
	}
	for _, l := range [][]string{v.Missing, v.Corrupt, v.Duplicate, v.Partial, v.Unexpected} {
		sort.Strings(l)
	}
	return v, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Secrets scans every file under dirs for any of needles (client secrets,
// bearer tokens) and returns "path: which" for each hit.
func Secrets(needles []string, dirs ...string) ([]string, error) {
	var hits []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			found, err := scanFile(path, needles)
			if err != nil {
				return err
			}
			for _, i := range found {
				hits = append(hits, fmt.Sprintf("%s: secret #%d", path, i))
			}
			return nil
		})
		if err != nil {
			return hits, err
		}
	}
	return hits, nil
}

// scanFile streams path in chunks that overlap by the longest needle, so any
// file size costs the same memory.
func scanFile(path string, needles []string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	overlap := 0
	for _, n := range needles {
		overlap = max(overlap, len(n))
	}
	buf := make([]byte, 0, 1<<20+overlap)
	chunk := make([]byte, 1<<20)
	found := map[int]bool{}
	for {
		n, err := f.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for i, needle := range needles {
			if needle != "" && strings.Contains(string(buf), needle) {
				found[i] = true
			}
		}
		if len(buf) > overlap {
			buf = append(buf[:0], buf[len(buf)-overlap:]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	var out []int
	for i := range needles {
		if found[i] {
			out = append(out, i)
		}
	}
	return out, nil
}
