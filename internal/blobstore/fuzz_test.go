package blobstore

import (
	"path"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzRecordingKey builds keys from ids as VCC might send them: a key that
// is built stays under its tenant's prefix (no "..", no backslash, no
// control, bidi or zero-width character, already clean), and ValidateID
// refuses every id such a key could not be made of.
func FuzzRecordingKey(f *testing.F) {
	const guid = "2480fc2c-bbd7-427c-9439-02f76583aef5"
	day := time.Date(2024, 3, 4, 9, 15, 0, 0, time.UTC).Unix()
	for _, s := range []struct {
		tenant, iid, cid, ext string
		unix                  int64
	}{
		{"acme", guid, "callRecording", "wav", day},
		{"acme", guid, "fbebd00a-9017-48d3-ad5c-156f4c45024e", "mp3", day},
		{"acme", guid, "interaction", "json", day},
		{"acme", guid, "callRecording", "bin", -62135596800}, // the zero time
		{"acme", guid, "callRecording", "wav", -1e11},
		{"acme", guid, "callRecording", "wav", 1e12},
		{"acme", "../../../etc/passwd", "c", "wav", day},
		{"acme", `..\..\windows`, "c", "wav", day},
		{"acme", "bad\x01id\nx", "c", "wav", day},
		{"acme", strings.Repeat("a", 300), "c", "wav", day},
		{"..", guid, "c", "wav", day},
		{"acme", guid, "c.", ".wav", day},
		{"acme", guid, "a..b", "wav", day},
		{"acme", guid, "c", "/../../x", day},
		{"acme", guid, "c", "", day},
		{"acme", guid + "\u202e", "c", "wav", day},
		{"acme", guid, "voice\u200bmail", "wav", day},
		{"\ufeffacme", guid, "c", "wav", day},
		{"acme", guid, "c\u2066", "wav", day},
		{"acme", "\xff\xfe", "c", "wav", day},
	} {
		f.Add(s.tenant, s.iid, s.cid, s.ext, s.unix)
	}
	f.Fuzz(func(t *testing.T, tenant, interactionID, contentID, ext string, unix int64) {
		for _, id := range []string{tenant, interactionID, contentID} {
			if ValidateID(id) == nil {
				checkID(t, id)
			}
		}
		start := time.Unix(unix, 0)
		if key, err := RecordingKey(tenant, start, interactionID, contentID, ext); err == nil {
			checkBuiltKey(t, key, tenant)
			if ValidateID(tenant) != nil || ValidateID(interactionID) != nil || ValidateID(contentID) != nil {
				t.Fatalf("RecordingKey built %q of an id ValidateID refuses", key)
			}
			if want := "/" + interactionID + "/" + contentID + "." + ext; !strings.HasSuffix(key, want) {
				t.Fatalf("RecordingKey = %q, want it to end in %q", key, want)
			}
		}
		if key, err := SidecarKey(tenant, start, interactionID); err == nil {
			checkBuiltKey(t, key, tenant)
			if ValidateID(tenant) != nil || ValidateID(interactionID) != nil {
				t.Fatalf("SidecarKey built %q of an id ValidateID refuses", key)
			}
		}
	})
}

// checkID fails if an id ValidateID accepted could be read as a path, or
// could show differently from what it is.
func checkID(t *testing.T, id string) {
	t.Helper()
	switch {
	case id == "" || len(id) > maxIDLen || !utf8.ValidString(id):
		t.Fatalf("ValidateID accepted %q: empty, longer than %d bytes or not UTF-8", id, maxIDLen)
	case strings.ContainsAny(id, `/\`) || strings.Contains(id, "..") || strings.HasPrefix(id, "."):
		t.Fatalf("ValidateID accepted %q, which has a path separator, \"..\" or a leading dot", id)
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) || invisible(r) {
			t.Fatalf("ValidateID accepted %q, which holds %U", id, r)
		}
	}
}

// invisible: the bidi controls and zero-width characters an id must not
// hold (they make an id show differently from what it is).
func invisible(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || (r >= 0x200B && r <= 0x200D) || r == 0xFEFF
}

// checkBuiltKey fails unless key is a clean, relative key under tenant's
// prefix: {tenant}/{yyyy}/{mm}/{dd}/{interaction id}/{name}.
func checkBuiltKey(t *testing.T, key, tenant string) {
	t.Helper()
	switch {
	case strings.Contains(key, ".."), strings.Contains(key, `\`), strings.HasPrefix(key, "/"):
		t.Fatalf("key %q has \"..\", a backslash or a leading slash", key)
	case !strings.HasPrefix(key, tenant+"/"):
		t.Fatalf("key %q does not start with tenant %q", key, tenant)
	case path.Clean(key) != key || !strings.HasPrefix(path.Clean(key), tenant+"/"):
		t.Fatalf("key %q is not clean under %q/ (path.Clean: %q)", key, tenant, path.Clean(key))
	case strings.Count(key, "/") != 5:
		t.Fatalf("key %q does not have the six parts tenant/yyyy/mm/dd/id/name", key)
	}
	for _, r := range key {
		if unicode.IsControl(r) || invisible(r) {
			t.Fatalf("key %q holds %U", key, r)
		}
	}
	if err := checkKey(key); err != nil {
		t.Fatalf("a built key is refused by the bucket: %v", err)
	}
}
