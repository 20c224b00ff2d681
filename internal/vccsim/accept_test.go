package vccsim

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestAcceptHeader(t *testing.T) {
	s := start(t, Config{Seed: 2, Days: 1, CallsPerDay: 5, FixedRecordingSize: 1000})
	s.SetNow(day0.AddDate(0, 0, 2))
	c, u, st := mustToken(t, s, "admin", ScopeContent), mustToken(t, s, "admin", ScopeUsers), mustToken(t, s, "admin", ScopeStats)
	guid := firstRecording(t, s)
	const (
		contentBad     = `{"message":"Invalid api-version! Valid values: 'application/vnd.newvoicemedia.v3+json'"}`
		usersMissing   = `{"statusCode":400,"error":"Bad Request","message":"Version missing from Accept header!"}`
		usersInvalid   = `{"statusCode":400,"error":"Bad Request","message":"Invalid api-version! Valid values: 4"}`
		statsMissing   = `{"statusCode":400,"error":"Bad Request","message":"Invalid Accept header!"}`
		statsInvalid   = `{"statusCode":400,"error":"Bad Request","message":"Invalid api-version! Valid values: 2,3"}`
		vnd2, vnd3     = "application/vnd.newvoicemedia.v2+json", "application/vnd.newvoicemedia.v3+json"
		vnd1, vnd4     = "application/vnd.newvoicemedia.v1+json", "application/vnd.newvoicemedia.v4+json"
		search         = "/interaction-content/interactions?start=2024-03-04T00:00:00Z&end=2024-03-05T00:00:00Z"
		one            = "/interaction-content/interactions/"
		users          = "/useradmin/users"
		stats          = "/stats/interactions?start=2024-03-04T00:00:00Z"
		ok             = ""
		rangeHdr, none = "Range", ""
	)
	download := one + guid + "/content/callRecording"
	for _, tc := range []struct {
		name, path, tok, accept string
		extra                   []string
		code                    int
		want                    string
	}{
		{"content v3", search, c, vnd3, nil, 200, ok},
		{"content v2", search, c, vnd2, nil, 200, ok},
		{"content list", search, c, "application/json, " + vnd3 + ";q=0.9", nil, 200, ok},
		{"content upper case", search, c, "Application/VND.NewVoiceMedia.V3+JSON", nil, 200, ok},
		{"content missing", search, c, none, nil, 400, contentBad},
		{"content json", search, c, "application/json", nil, 400, contentBad},
		{"content any", search, c, "*/*", nil, 400, contentBad},
		{"content v1", search, c, vnd1, nil, 400, contentBad},
		{"content v4", search, c, vnd4, nil, 400, contentBad},
		{"interaction v3", one + guid, c, vnd3, nil, 200, ok},
		{"interaction json", one + guid, c, "application/json", nil, 400, contentBad},
		{"download v3", download, c, vnd3, nil, 200, ok},
		{"download v2", download, c, vnd2, nil, 200, ok},
		{"download audio/wav", download, c, "audio/wav", nil, 400, contentBad},
		{"download any", download, c, "*/*", nil, 400, contentBad},
		{"download missing", download, c, none, nil, 400, contentBad},
		{"range v3", download, c, vnd3, []string{rangeHdr, "bytes=0-99"}, 206, ok},
		{"range missing", download, c, none, []string{rangeHdr, "bytes=0-99"}, 400, contentBad},
		{"range json", download, c, "application/octet-stream", []string{rangeHdr, "bytes=0-99"}, 400, contentBad},
		{"users v4", users, u, vnd4, nil, 200, ok},
		{"users list", users, u, "application/json, " + vnd4, nil, 200, ok},
		{"users missing", users, u, none, nil, 400, usersMissing},
		{"users json", users, u, "application/json", nil, 400, usersMissing},
		{"users v3", users, u, vnd3, nil, 400, usersInvalid},
		{"users v3 and json", users, u, "application/json, " + vnd3, nil, 400, usersInvalid},
		{"stats v3", stats, st, vnd3, nil, 200, ok},
		{"stats v2", stats, st, vnd2, nil, 200, ok},
		{"stats missing", stats, st, none, nil, 400, statsMissing},
		{"stats json", stats, st, "application/json", nil, 400, statsMissing},
		{"stats v4", stats, st, vnd4, nil, 400, statsInvalid},
		{"stats v1", stats, st, vnd1, nil, 400, statsInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := get(t, s, tc.path, tc.tok, append([]string{"Accept", tc.accept}, tc.extra...)...)
			if resp.StatusCode != tc.code {
				t.Fatalf("%d %.200s, want %d", resp.StatusCode, b, tc.code)
			}
			if tc.want != "" {
				var got, want any
				_ = json.Unmarshal(b, &got)
				_ = json.Unmarshal([]byte(tc.want), &want)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("body %s, want %s", b, tc.want)
				}
			}
		})
	}
}

// Auth comes before Accept: a request wrong in both gets the auth error.
func TestAuthBeforeAccept(t *testing.T) {
	s := start(t, Config{Seed: 2, Days: 1})
	resp, b := get(t, s, "/useradmin/users", "", "Accept", "")
	if resp.StatusCode != 401 {
		t.Errorf("no token, no Accept: %d %s, want 401", resp.StatusCode, b)
	}
}

func TestAcceptedVersions(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   []int
	}{
		{"", nil},
		{"application/json", nil},
		{"application/vnd.newvoicemedia+json", nil},
		{"application/vnd.newvoicemedia.v+json", nil},
		{"application/vnd.newvoicemedia.v03+json", nil},
		{"application/vnd.newvoicemedia.v3+xml", nil},
		{"application/vnd.newvoicemedia.v3+json", []int{3}},
		{"application/vnd.newvoicemedia.v3+json; charset=utf-8", []int{3}},
		{"application/vnd.newvoicemedia.v2+json, application/vnd.newvoicemedia.v3+json;q=0.5", []int{2, 3}},
		{"text/html, application/vnd.newvoicemedia.v4+json", []int{4}},
	} {
		if got := acceptedVersions(tc.header); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("acceptedVersions(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}
