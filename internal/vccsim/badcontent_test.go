package vccsim

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawGet GETs a download as a careful client does (identity encoding,
// optional Range) and returns the response with as much of the body as
// came, and the read error, if any.
func rawGet(t *testing.T, s *Server, path, tok, rng string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", acceptContentV3)
	req.Header.Set("Accept-Encoding", "identity")
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// Each fault of a broken or hostile VCC is served as its comment says, to
// every download of the item it is aimed at, and to no other.
func TestBadContentFaults(t *testing.T) {
	for _, tc := range []struct {
		fault Fault
		rng   string
		check func(t *testing.T, resp *http.Response, body, want []byte, err error)
	}{
		{FaultShortLength, "", func(t *testing.T, resp *http.Response, body, want []byte, err error) {
			if err != nil || resp.ContentLength != int64(len(want)/2) || !bytes.Equal(body, want[:len(want)/2]) {
				t.Errorf("Content-Length %d, %d bytes, %v; want half, self-consistent", resp.ContentLength, len(body), err)
			}
		}},
		{FaultChunkedShort, "", func(t *testing.T, resp *http.Response, body, want []byte, err error) {
			if err != nil || resp.ContentLength != -1 || !bytes.Equal(body, want[:len(want)/2]) {
				t.Errorf("Content-Length %d, %d bytes, %v; want chunked, half", resp.ContentLength, len(body), err)
			}
		}},
		{FaultLongBody, "", func(t *testing.T, resp *http.Response, body, want []byte, err error) {
			if err != nil || !bytes.HasPrefix(body, want) || len(body) != len(want)+4<<10 {
				t.Errorf("%d bytes, %v; want the %d and 4 KiB more", len(body), err, len(want))
			}
		}},
		{FaultGzip, "", func(t *testing.T, resp *http.Response, body, want []byte, err error) {
			var inflated []byte
			zr, zerr := gzip.NewReader(bytes.NewReader(body))
			if zerr == nil {
				inflated, zerr = io.ReadAll(zr)
			}
			if err != nil || resp.Header.Get("Content-Encoding") != "gzip" || zerr != nil || !bytes.Equal(inflated, want) {
				t.Errorf("Content-Encoding %q, %v, %v; want gzip of the content", resp.Header.Get("Content-Encoding"), err, zerr)
			}
		}},
		{FaultWrongRange, "", func(t *testing.T, resp *http.Response, body, want []byte, err error) {
			if err == nil || len(body) >= len(want) {
				t.Errorf("%d bytes, %v; want the transfer broken", len(body), err)
			}
		}},
		{FaultWrongRange, "bytes=1000-", func(t *testing.T, resp *http.Response, body, want []byte, err error) {
			cr := resp.Header.Get("Content-Range")
			if err != nil || resp.StatusCode != 206 || !strings.HasPrefix(cr, "bytes 1000-") || !bytes.Equal(body, want[:len(want)-1000]) {
				t.Errorf("%d %q, %d bytes, %v; want 206 as asked with the bytes from 0", resp.StatusCode, cr, len(body), err)
			}
		}},
		{FaultHTML, "", func(t *testing.T, resp *http.Response, body, want []byte, err error) {
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("<html>")) {
				t.Errorf("%d %q %.80q; want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}},
		{FaultDrip, "", func(t *testing.T, resp *http.Response, body, want []byte, err error) {
			if err != nil || !bytes.Equal(body, want) {
				t.Errorf("%d bytes, %v; want all, slowly", len(body), err)
			}
		}},
	} {
		t.Run(string(tc.fault)+tc.rng, func(t *testing.T) {
			s := contentSim(t, Config{FixedRecordingSize: 3000})
			tok := mustToken(t, s, "admin", ScopeContent)
			var guids []string
			for _, it := range s.data.Interactions {
				if len(it.Content) > 0 && it.Content[0].Key == "callRecording" {
					guids = append(guids, it.GUID)
				}
			}
			bad, good := guids[0], guids[1]
			s.SetFaults(Faults{Content: map[string]Fault{ContentFaultKey(bad, "callRecording"): tc.fault}, DripInterval: time.Microsecond})
			path := onePath + bad + "/content/callRecording"
			for range 2 { // every download of it
				resp, body, err := rawGet(t, s, path, tok, tc.rng)
				tc.check(t, resp, body, s.ContentBytes(bad, "callRecording"), err)
			}
			resp, body, err := rawGet(t, s, onePath+good+"/content/callRecording", tok, "")
			if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/wav" || !bytes.Equal(body, s.ContentBytes(good, "callRecording")) {
				t.Errorf("another recording: %d %q, %d bytes, %v; want it served right", resp.StatusCode, resp.Header.Get("Content-Type"), len(body), err)
			}
		})
	}
}

// Under the OctetStreamDownloads reading every download is
// application/octet-stream; by default it is the item's content type.
func TestOctetStreamDownloads(t *testing.T) {
	for _, octet := range []bool{false, true} {
		s := contentSim(t, Config{FixedRecordingSize: 3000, Readings: Readings{OctetStreamDownloads: octet}})
		tok := mustToken(t, s, "admin", ScopeContent)
		guid := firstRecording(t, s)
		resp, body, err := rawGet(t, s, onePath+guid+"/content/callRecording", tok, "bytes=100-")
		want := "audio/wav"
		if octet {
			want = "application/octet-stream"
		}
		if err != nil || resp.StatusCode != 206 || resp.Header.Get("Content-Type") != want || len(body) != 2900 {
			t.Errorf("octet=%v: %d %q, %d bytes, %v; want 206 %s", octet, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), err, want)
		}
	}
}
