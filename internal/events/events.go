// Package events announces what vccingest stored, and what it could not,
// as CloudEvents 1.0 (JSON, structured mode) to sinks chosen by URL.
//
// An event's id is deterministic: the same recording always has the same
// recording.stored id, so a consumer that sees it twice (delivery is at
// least once) drops the copy.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore"
)

// SpecVersion is the CloudEvents version every event carries.
const SpecVersion = "1.0"

// ContentType is the media type of an event in CloudEvents' structured
// JSON mode: the body is the whole envelope.
const ContentType = "application/cloudevents+json"

// The event types. Each is prefixed, as CloudEvents recommends, so that
// they stay apart from other producers' types on a shared bus.
const (
	TypeRecordingStored  = "vccingest.recording.stored"
	TypeRecordingUpdated = "vccingest.recording.updated"
	TypeRecordingFailed  = "vccingest.recording.failed"
	TypeTenantHealth     = "vccingest.tenant.health"
	TypeCoverageGap      = "vccingest.tenant.coverage_gap"
)

// ShortType turns "recording.stored" into TypeRecordingStored; a full type
// is returned as it is.
func ShortType(t string) string {
	if strings.HasPrefix(t, "vccingest.") {
		return t
	}
	return "vccingest." + t
}

// Event is one CloudEvent: the required attributes, the optional ones
// vccingest sets, and the data.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// Source is the event source of a tenant: a URI reference, as the spec
// asks, unique per tenant.
func Source(tenant string) string { return "/vccingest/tenants/" + url.PathEscape(tenant) }

// RecordingID is the id of an event about one recording: the tenant,
// interaction and content key, then what happened. rev tells apart events
// of the same kind that are not copies of each other (a recording failed
// for good again after a later run retried it); 0 leaves it out.
func RecordingID(tenant, interaction, contentKey, what string, rev int64) string {
	id := tenant + "/" + interaction + "/" + contentKey + "/" + what
	if rev > 0 {
		id += fmt.Sprintf("/%d", rev)
	}
	return id
}

// New builds an event of type typ with data encoded as JSON.
func New(typ, id, source, subject string, at time.Time, data any) (Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("encode data of event %s: %w", id, err)
	}
	ev := Event{
		SpecVersion:     SpecVersion,
		ID:              id,
		Source:          source,
		Type:            typ,
		Subject:         subject,
		Time:            at.UTC(),
		DataContentType: "application/json",
		Data:            b,
	}
	return ev, ev.Validate()
}

// Validate checks what CloudEvents 1.0 requires of the attributes.
func (e Event) Validate() error {
	var errs []error
	if e.SpecVersion != SpecVersion {
		errs = append(errs, fmt.Errorf("specversion %q, want %q", e.SpecVersion, SpecVersion))
	}
	if e.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if e.Type == "" {
		errs = append(errs, errors.New("type is empty"))
	}
	if _, err := url.Parse(e.Source); e.Source == "" || err != nil {
		errs = append(errs, fmt.Errorf("source %q is not a non-empty URI reference", e.Source))
	}
	if e.Time.IsZero() {
		errs = append(errs, errors.New("time is not set"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("event %q is not a valid CloudEvent: %w", e.ID, err)
	}
	return nil
}

// Encode is the event's CloudEvents JSON, once Validate passed: what a
// sink delivers.
func (e Event) Encode() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	return body, nil
}

// RecordingStored is the data of a recording.stored event: all a consumer
// needs to fetch and tag the audio without another lookup.
type RecordingStored struct {
	Tenant        string `json:"tenant"`
	InteractionID string `json:"interaction_id"`
	ContentKey    string `json:"content_key"`
	ContentType   string `json:"content_type"` // VCC's item type: callRecording, voicemail, ivrAudioRecording
	MediaType     string `json:"media_type"`
	Bytes         int64  `json:"bytes"`
	SHA256        string `json:"sha256"`
	BlobKey       string `json:"blob_key"`
	BlobURL       string `json:"blob_url"`
	SidecarKey    string `json:"sidecar_key"`
	// AudioSeconds is the play time of a WAV recording (from its header).
	AudioSeconds float64   `json:"audio_seconds,omitempty"`
	StoredAt     time.Time `json:"stored_at"`
	blobstore.Call
}

// RecordingUpdated is the data of a recording.updated event: a stored
// recording whose call metadata changed (direction from Stats, an agent
// that arrived later), with all it now says, as recording.stored does.
type RecordingUpdated = RecordingStored

// TenantHealth is the data of a tenant.health event: a run that made the
// tenant unhealthy (it failed after one that did not) or healthy again.
type TenantHealth struct {
	Tenant string `json:"tenant"`
	Health string `json:"health"` // healthy or unhealthy
	// Run is the run that changed it: its id, status and end, and why it
	// failed (unhealthy).
	Run       int64     `json:"run"`
	RunStatus string    `json:"run_status"`
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at"`
}

// CoverageGap is the data of a tenant.coverage_gap event: a permission of
// the credential's user newly diagnosed as hiding calls, or cleared (its
// calls are visible again).
type CoverageGap struct {
	Tenant     string    `json:"tenant"`
	Permission string    `json:"permission"`
	State      string    `json:"state"`        // diagnosed or cleared
	Hidden     int       `json:"hidden_calls"` // calls it explained when last diagnosed
	Evidence   string    `json:"evidence"`
	Advice     string    `json:"advice,omitempty"` // what to enable (diagnosed)
	At         time.Time `json:"at"`
}

// TenantID is the id of an event about a tenant: the tenant, what
// happened, and the run or revision that tells it apart.
func TenantID(tenant, what string, rev int64) string {
	return fmt.Sprintf("%s/%s/%d", tenant, what, rev)
}

// RecordingFailed is the data of a recording.failed event: a recording
// vccingest gave up on, and why.
type RecordingFailed struct {
	Tenant        string `json:"tenant"`
	InteractionID string `json:"interaction_id"`
	ContentKey    string `json:"content_key"`
	ContentType   string `json:"content_type"`
	Attempts      int    `json:"attempts"`
	Reason        string `json:"reason"`
	blobstore.Call
}
