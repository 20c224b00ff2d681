package vcc

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// A start no call can have (before 2000, or a day or more ahead of the
// clock) makes the record a bad record, in Content and Stats alike: a
// year-9999 start could not be filed under a date nor encoded in a sidecar.
func TestImplausibleStartsAreBadRecords(t *testing.T) {
	tomorrow := time.Now().Add(26 * time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		start, want string
	}{
		{"0001-01-01T00:00:00Z", "before 2000"},
		{"1970-01-01T00:00:00Z", "before 2000"},
		{"9999-12-31T23:59:59Z", "more than a day in the future"},
		{tomorrow, "more than a day in the future"},
		{"2024-03-04T10:00:00Z", ""},
	} {
		for api, decode := range map[string]func([]byte) error{
			"content": func(b []byte) error {
				var j interactionJSON
				if err := json.Unmarshal(b, &j); err != nil {
					return err
				}
				_, err := j.decode()
				return err
			},
			"stats": func(b []byte) error {
				var j statsJSON
				if err := json.Unmarshal(b, &j); err != nil {
					return err
				}
				_, err := j.decode()
				return err
			},
		} {
			err := decode([]byte(`{"guid":"g1","start":"` + tc.start + `","direction":"Inbound"}`))
			var bad *BadRecordError
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%s start %s: %v, want it accepted", api, tc.start, err)
			case tc.want != "" && (!errors.As(err, &bad) || !strings.Contains(bad.Problem, tc.want)):
				t.Errorf("%s start %s: %v, want a bad record saying %q", api, tc.start, err, tc.want)
			}
		}
	}
}
