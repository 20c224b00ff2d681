package vcc

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
)

// recording is the documented example's call recording, its length not
// listed.
var recording = ContentItem{Key: "callRecording", Type: "callRecording", ContentType: "audio/wav"}

const exampleGUID = "2480fc2c-bbd7-427c-9439-02f76583aef5"

// testContent is n bytes that do not repeat, so that bytes from another
// offset never pass for the right ones.
func testContent(n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	copy(b, "RIFF\x00\x00\x00\x00WAVE")
	return b
}

// downloadServer is a VCC that answers the nth (1-based) download request
// with serve; it records each download request's Range header.
type downloadServer struct {
	mu     sync.Mutex
	ranges []string
}

func (d *downloadServer) requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ranges...)
}

// stallTest is a stall rule short enough for tests: a transfer is stalled
// after 300 ms without a byte, or under 2,000 bytes/s over 200 ms.
func stallTest(c *Config) {
	c.StallTimeout, c.MinRate, c.MinRateWindow = 300*time.Millisecond, 2000, 200*time.Millisecond
}

func newDownloadServer(t *testing.T, serve func(w http.ResponseWriter, r *http.Request, n int), opts ...func(*Config)) (*Client, *downloadServer) {
	t.Helper()
	d := &downloadServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/Auth/connect/token" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"tok-123456","token_type":"bearer","expires_in":7200}`)
			return
		}
		d.mu.Lock()
		d.ranges = append(d.ranges, r.Header.Get("Range"))
		n := len(d.ranges)
		d.mu.Unlock()
		serve(w, r, n)
	}))
	t.Cleanup(srv.Close)
	cfg := Config{AuthURL: srv.URL + "/Auth/connect/token", APIURL: srv.URL, ClientID: "id", ClientSecret: secret.New("the-client-secret"),
		MinBackoff: time.Millisecond, MaxAttempts: 3}
	stallTest(&cfg)
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, d
}

// serveWhole answers 200 with b as audio/wav.
func serveWhole(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// serveRange answers a "bytes=N-" request with a correct 206.
func serveRange(w http.ResponseWriter, r *http.Request, b []byte) {
	from, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.Header.Get("Range"), "bytes="), "-"))
	if err != nil {
		serveWhole(w, b)
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(b)-1, len(b)))
	w.Header().Set("Content-Length", strconv.Itoa(len(b)-from))
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(b[from:])
}

// serveChunked answers 200 with b, chunked (no Content-Length).
func serveChunked(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "audio/wav")
	_, _ = w.Write(b[:len(b)/2])
	http.NewResponseController(w).Flush()
	_, _ = w.Write(b[len(b)/2:])
}

// closeAfter announces all of b, sends its first n bytes and drops the
// connection.
func closeAfter(w http.ResponseWriter, b []byte, n int) {
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b[:n])
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// rangeThenClose answers a request as serveRange does, but sends only the
// first n bytes of what it announced (all of it if n is 0 or more), then
// drops the connection; half: n is half of what was asked for.
func rangeThenClose(w http.ResponseWriter, r *http.Request, b []byte, n int, half bool) {
	from, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.Header.Get("Range"), "bytes="), "-"))
	rest := b[from:]
	if half {
		n = len(rest) / 2
	}
	if n >= len(rest) {
		serveRange(w, r, b)
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", strconv.Itoa(len(rest)))
	if from > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(b)-1, len(b)))
		w.WriteHeader(http.StatusPartialContent)
	}
	_, _ = w.Write(rest[:n])
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// drip announces all of b and sends one byte every 10 ms (100 bytes/s,
// under the test's floor of 2,000) until the client goes.
func drip(w http.ResponseWriter, r *http.Request, b []byte) {
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	rc := http.NewResponseController(w)
	for i := range b {
		_, _ = w.Write(b[i : i+1])
		_ = rc.Flush()
		select {
		case <-time.After(10 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
}

// hang sends the headers, then nothing until the client goes.
func hang(w http.ResponseWriter, r *http.Request, b []byte) {
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
	<-r.Context().Done()
}

// gzipBomb is 1,024 gzip members of 1 MiB of zeros each: about 1 MB on the
// wire, 1 GiB inflated (Go's gzip reader reads every member).
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	var one bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&one, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	return bytes.Repeat(one.Bytes(), 1024)
}

// readAll reads r as the bucket does, in 256 KiB reads, and counts.
func readAll(r io.Reader) ([]byte, error) {
	var out bytes.Buffer
	_, err := io.CopyBuffer(&out, onlyReader{r}, make([]byte, 256<<10))
	return out.Bytes(), err
}

type onlyReader struct{ io.Reader }

// Each attack of a hostile or broken VCC on a download, against a real
// loopback server: the download either ends with exactly the listed bytes,
// or fails with an error that names what was wrong, having passed on no
// byte beyond the listed size.
func TestDownloadIsVerifiedOrFails(t *testing.T) {
	bomb := gzipBomb(t)
	tests := []struct {
		name    string
		size    int  // content size; default 5000
		listed  bool // the listing gives contentLength (default item: yes)
		item    *ContentItem
		serve   func(w http.ResponseWriter, r *http.Request, n int, b []byte)
		wantErr string // "" means the exact bytes
		// wantRanges are the Range headers of the requests, if set.
		wantRanges []string
		opts       []func(*Config)
	}{
		{name: "correct", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) { serveWhole(w, b) }, wantRanges: []string{""}},
		{name: "short body with a self-consistent Content-Length", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) { serveWhole(w, b[:1000]) },
			wantErr: "served Content-Length 1000 for 5000 listed bytes"},
		{name: "chunked short body", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) { serveChunked(w, b[:1000]) },
			wantErr: "served 1000 of 5000 listed bytes"},
		{name: "close after 1000 of 5000 bytes resumes, then correct", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			if n == 1 {
				closeAfter(w, b, 1000)
			}
			serveRange(w, r, b)
		}, wantRanges: []string{"", "bytes=0-"}}, // the 1,000 bytes read are asked again and compared
		{name: "close after 10000 of 20000 bytes resumes from the overlap", size: 20000, serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			if n == 1 {
				closeAfter(w, b, 10000)
			}
			serveRange(w, r, b)
		}, wantRanges: []string{"", "bytes=5904-"}},
		{name: "close halfway on every response fails after 4 transfers without progress", size: 20000, serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			rangeThenClose(w, r, b, 0, true)
		}, wantErr: "4 times in a row, each time before 64 KiB more came", wantRanges: []string{"", "bytes=5904-", "bytes=8856-", "bytes=10332-"}},
		{name: "close after every 100 KiB resumes as often as it takes", size: 1 << 20, serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			rangeThenClose(w, r, b, 100<<10+resumeOverlap, false)
		}}, // 11 transfers, each with 100 KiB of progress
		{name: "body longer than listed (Content-Length)", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) { serveWhole(w, append(b, 'x')) },
			wantErr: "served Content-Length 5001 for 5000 listed bytes"},
		{name: "body longer than listed (chunked)", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			serveChunked(w, append(b, make([]byte, 1000)...))
		},
			wantErr: "served more than the 5000 listed bytes"},
		{name: "gzip Content-Encoding bomb", size: len(bomb), serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			w.Header().Set("Content-Encoding", "gzip")
			serveWhole(w, bomb)
		}, wantErr: `served Content-Encoding "gzip" for a callRecording, asked for identity`},
		{name: "gzip Content-Encoding bomb, length not listed, Go's default transport", item: &recording,
			opts: []func(*Config){func(c *Config) {
				c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
			}},
			serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
				w.Header().Set("Content-Encoding", "gzip")
				serveWhole(w, bomb)
			}, wantErr: `served Content-Encoding "gzip"`},
		{name: "206 with the wrong offset", size: 20000, serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			if n == 1 {
				closeAfter(w, b, 10000)
			}
			w.Header().Set("Content-Type", "audio/wav")
			w.Header().Set("Content-Range", "bytes 0-19999/20000")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(b)
		}, wantErr: "206 from offset 0, asked 5904"},
		{name: "206 with a correct Content-Range but the bytes from offset 0", size: 20000, serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			if n == 1 {
				closeAfter(w, b, 10000)
			}
			w.Header().Set("Content-Type", "audio/wav")
			w.Header().Set("Content-Range", "bytes 5904-19999/20000")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(b[:20000-5904])
		}, wantErr: "resumed from offset 5904 with other bytes"},
		{name: "206 of another total", size: 20000, serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			if n == 1 {
				closeAfter(w, b, 10000)
			}
			w.Header().Set("Content-Type", "audio/wav")
			w.Header().Set("Content-Range", "bytes 5904-29999/30000")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(append(b[5904:], make([]byte, 10000)...))
		}, wantErr: "206 of a 30000-byte content, 20000 listed"},
		{name: "206 to a request without Range", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			w.Header().Set("Content-Range", "bytes 0-4999/5000")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(b)
		}, wantErr: "206 Partial Content"},
		{name: "200 text/html", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, "<html><body>Service temporarily unavailable</body></html>")
		}, wantErr: "served text/html for a callRecording (listed audio/wav)"},
		{name: "200 application/json", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		}, wantErr: "served application/json for a callRecording"},
		{name: "application/octet-stream is accepted", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(b)
		}},
		{name: "no Content-Type is accepted", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			w.Header()["Content-Type"] = nil // no sniffing either
			_, _ = w.Write(b)
		}},
		{name: "204 No Content", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) { w.WriteHeader(http.StatusNoContent) },
			wantErr: "served 204 No Content for a callRecording"},
		{name: "drip of 100 bytes/s is a stall, resumed", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			if n == 1 {
				drip(w, r, b)
				return
			}
			serveRange(w, r, b)
		}, wantRanges: []string{"", "bytes=0-"}},
		{name: "drip of 100 bytes/s, every time", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) { drip(w, r, b) },
			wantErr: "under the floor of 2000 bytes/s"},
		{name: "no byte after the headers is a stall, resumed", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) {
			if n == 1 {
				hang(w, r, b)
				return
			}
			serveRange(w, r, b)
		}, wantRanges: []string{"", ""}, opts: []func(*Config){func(c *Config) { c.MinRate = -1 }}}, // nothing read: asked again from the start
		{name: "no byte after the headers, every time", serve: func(w http.ResponseWriter, r *http.Request, n int, b []byte) { hang(w, r, b) },
			wantErr: "stalled: no byte for", opts: []func(*Config){func(c *Config) { c.MinRate = -1 }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := cmpOrInt(tt.size, 5000)
			want := testContent(size)
			item := ContentItem{Key: "callRecording", Type: "callRecording", ContentType: "audio/wav", Length: int64(size)}
			if tt.item != nil {
				item = *tt.item
			}
			c, srv := newDownloadServer(t, func(w http.ResponseWriter, r *http.Request, n int) { tt.serve(w, r, n, want) }, tt.opts...)
			var got []byte
			r, err := c.Open(context.Background(), exampleGUID, item)
			if err == nil {
				got, err = readAll(r)
				r.Close()
			}
			if item.Length > 0 && int64(len(got)) > item.Length {
				t.Errorf("passed on %d bytes, more than the %d listed", len(got), item.Length)
			}
			if !bytes.Equal(got, want[:min(len(got), len(want))]) {
				t.Errorf("passed on %d bytes that are not the content's", len(got))
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("download failed: %v", err)
			case tt.wantErr == "" && !bytes.Equal(got, want):
				t.Fatalf("downloaded %d bytes, not the %d of the content", len(got), len(want))
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("download: %v (%d bytes); want an error with %q", err, len(got), tt.wantErr)
			}
			if tt.wantRanges != nil && strings.Join(srv.requests(), ",") != strings.Join(tt.wantRanges, ",") {
				t.Errorf("Range of each request %q, want %q", srv.requests(), tt.wantRanges)
			}
			if err != nil {
				t.Logf("error: %v", err)
			}
		})
	}
}

func cmpOrInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// TestDownloadGzipBombMemory measures the gzip bomb's cost: refused on its
// headers, it reads nothing and allocates next to nothing.
func TestDownloadGzipBombMemory(t *testing.T) {
	bomb := gzipBomb(t)
	c, _ := newDownloadServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Encoding", "gzip")
		serveWhole(w, bomb)
	})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := c.Open(context.Background(), exampleGUID, ContentItem{Key: "callRecording", Type: "callRecording", ContentType: "audio/wav", Length: 1 << 30})
	if err == nil {
		n, _ := io.Copy(io.Discard, r)
		r.Close()
		t.Fatalf("a gzip-encoded download was accepted (%d bytes read)", n)
	}
	runtime.ReadMemStats(&after)
	t.Logf("bomb of %d bytes (1 GiB inflated): %v; allocated %d KiB while refusing it, heap in use %d KiB",
		len(bomb), err, (after.TotalAlloc-before.TotalAlloc)>>10, after.HeapInuse>>10)
	if !strings.Contains(err.Error(), "Content-Encoding") {
		t.Errorf("error %v does not name the Content-Encoding", err)
	}
}

// A cancelled caller ends a stalled download with its own error, not as a
// stall to resume.
func TestDownloadCancelledWhileStalled(t *testing.T) {
	c, srv := newDownloadServer(t, func(w http.ResponseWriter, r *http.Request, n int) { hang(w, r, testContent(5000)) },
		func(c *Config) { c.StallTimeout = time.Hour; c.MinRate = -1 })
	ctx, cancel := context.WithCancel(context.Background())
	r, err := c.Open(ctx, exampleGUID, ContentItem{Key: "callRecording", Type: "callRecording", ContentType: "audio/wav", Length: 5000})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = readAll(r)
	if !errors.Is(err, context.Canceled) || len(srv.requests()) != 1 {
		t.Errorf("read: %v after %d requests; want context.Canceled after 1", err, len(srv.requests()))
	}
}
