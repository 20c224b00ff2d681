package blobstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrBadID reports an identifier from the API that is not safe to use as a
// part of an object key.
var ErrBadID = errors.New("unsafe id")

// maxIDLen bounds an id; VCC ids are GUIDs (36 characters) or short keys.
const maxIDLen = 200

// ValidateID checks an id (tenant, interaction id, content key) before it
// becomes part of a key: it must be valid UTF-8, 1 to 200 bytes, with no
// path separators, no "..", no control or space characters, no invisible
// formatting characters (bidi controls such as U+202E, zero-width ones such
// as U+200B or U+FEFF: they make an id show as another), and neither start
// nor end with a dot (a content id "x." would make "x..wav", and Windows
// drops a trailing dot from a file name). A hostile id is an error, never a
// path.
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrBadID)
	case len(id) > maxIDLen:
		return fmt.Errorf("%w: %d bytes long (at most %d)", ErrBadID, len(id), maxIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrBadID)
	case strings.HasPrefix(id, "."):
		return fmt.Errorf("%w: starts with a dot", ErrBadID)
	case strings.HasSuffix(id, "."):
		return fmt.Errorf("%w: ends with a dot", ErrBadID)
	case strings.Contains(id, ".."):
		return fmt.Errorf("%w: contains \"..\"", ErrBadID)
	case strings.ContainsAny(id, `/\`):
		return fmt.Errorf("%w: contains a path separator", ErrBadID)
	}
	for _, r := range id {
		switch {
		case unicode.IsControl(r) || unicode.IsSpace(r):
			return fmt.Errorf("%w: contains control or space character %U", ErrBadID, r)
		case unicode.Is(unicode.Cf, r):
			return fmt.Errorf("%w: contains invisible formatting character %U (a bidi control or zero-width character)", ErrBadID, r)
		}
	}
	return nil
}

// validExt is a file extension as ExtForMediaType gives them: 1 to 16
// lower-case ASCII letters and digits.
func validExt(ext string) bool {
	if ext == "" || len(ext) > 16 {
		return false
	}
	for _, c := range []byte(ext) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkKey refuses keys that could escape the bucket's prefix scheme, and
// keys in a file bucket's temporary area.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || key == tempRoot || strings.HasPrefix(key, tempRoot+"/") {
		return fmt.Errorf("%w: key %q", ErrBadID, key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("%w: key %q", ErrBadID, key)
		}
	}
	return nil
}

// interactionPrefix is {tenant}/{yyyy}/{mm}/{dd}/{interaction_id}/, the date
// being the interaction's start in UTC.
func interactionPrefix(tenant string, start time.Time, interactionID string) (string, error) {
	for _, id := range []struct{ what, v string }{{"tenant", tenant}, {"interaction id", interactionID}} {
		if err := ValidateID(id.v); err != nil {
			return "", fmt.Errorf("%s %q: %w", id.what, truncate(id.v), err)
		}
	}
	if start.IsZero() {
		return "", fmt.Errorf("interaction %s has no start time", interactionID)
	}
	return tenant + "/" + start.UTC().Format("2006/01/02") + "/" + interactionID + "/", nil
}

// RecordingKey is {tenant}/{yyyy}/{mm}/{dd}/{interaction_id}/{content_id}.{ext}.
func RecordingKey(tenant string, start time.Time, interactionID, contentID, ext string) (string, error) {
	p, err := interactionPrefix(tenant, start, interactionID)
	if err != nil {
		return "", err
	}
	if err := ValidateID(contentID); err != nil {
		return "", fmt.Errorf("content id %q: %w", truncate(contentID), err)
	}
	if !validExt(ext) {
		return "", fmt.Errorf("%w: file extension %q (want 1 to 16 lower-case letters and digits)", ErrBadID, truncate(ext))
	}
	if contentID == "interaction" && ext == "json" {
		return "", fmt.Errorf("content id %q would collide with the sidecar", contentID)
	}
	return p + contentID + "." + ext, nil
}

// SidecarKey is {tenant}/{yyyy}/{mm}/{dd}/{interaction_id}/interaction.json.
func SidecarKey(tenant string, start time.Time, interactionID string) (string, error) {
	p, err := interactionPrefix(tenant, start, interactionID)
	if err != nil {
		return "", err
	}
	return p + "interaction.json", nil
}

// ExtForMediaType maps a media type to a file extension ("bin" if unknown).
func ExtForMediaType(mediaType string) string {
	mt, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(mediaType)), ";")
	switch strings.TrimSpace(mt) {
	case "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave":
		return "wav"
	case "audio/mpeg", "audio/mp3":
		return "mp3"
	case "audio/ogg":
		return "ogg"
	case "audio/mp4", "audio/x-m4a":
		return "m4a"
	case "video/mp4":
		return "mp4"
	case "video/webm":
		return "webm"
	case "application/json":
		return "json"
	}
	return "bin"
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// SidecarSchemaVersion is the version of the interaction.json schema. It
// changes only when a field changes meaning or is removed; added fields keep
// the version.
const SidecarSchemaVersion = 1

// Sidecar is interaction.json, the metadata record beside an interaction's
// recordings. Its schema is documented in README.md ("Where recordings go").
type Sidecar struct {
	SchemaVersion int    `json:"schema_version"`
	Tenant        string `json:"tenant"`
	InteractionID string `json:"interaction_id"`
	Call
	Recordings []SidecarRecording `json:"recordings"`
	Provenance Provenance         `json:"provenance"`
}

// Call is what the sidecar says of the call itself. The events of a
// recording (internal/events) embed it too, so the two never differ.
type Call struct {
	Start           time.Time  `json:"start"`
	End             *time.Time `json:"end,omitempty"`
	DurationSeconds float64    `json:"duration_seconds,omitempty"`
	Direction       string     `json:"direction"`        // inbound, outbound, internal or unknown
	DirectionSource string     `json:"direction_source"` // stats or unknown
	ConnectFrom     string     `json:"connect_from,omitempty"`
	ConnectTo       string     `json:"connect_to,omitempty"`
	Agent           *Agent     `json:"agent,omitempty"`
	Groups          []string   `json:"groups,omitempty"`
}

// Agent is the handling agent of an interaction.
type Agent struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Email     string `json:"email,omitempty"`
	AgentCode string `json:"agent_code,omitempty"`
}

// SidecarRecording is one stored recording of an interaction.
type SidecarRecording struct {
	ContentKey      string  `json:"content_key"`
	Type            string  `json:"type"`
	MediaType       string  `json:"media_type"`
	Bytes           int64   `json:"bytes"`
	SHA256          string  `json:"sha256"`
	BlobKey         string  `json:"blob_key"`
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
}

// Provenance says where and when the data came from.
type Provenance struct {
	Region    string    `json:"region"`
	APIBase   string    `json:"api_base"`
	FetchedAt time.Time `json:"fetched_at"`
	Version   string    `json:"vccingest_version"`
}

// WriteSidecar writes sc as indented JSON under key, atomically.
func (b *Bucket) WriteSidecar(ctx context.Context, key string, sc Sidecar) error {
	data, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode sidecar: %w", err)
	}
	data = append(data, '\n')
	_, err = b.put(ctx, key, strings.NewReader(string(data)), int64(len(data)), "application/json")
	return err
}
