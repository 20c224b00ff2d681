package vcc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// BenchmarkList100k lists 100,000 interactions through the client and, for
// comparison, with plain net/http paging of the same simulator (same page
// size and continuation paging, same decoding into a struct). The ratio raw/client of ns/op is the
// client's efficiency (target ≥ 0.9).
func BenchmarkList100k(b *testing.B) {
	sim := startSim(b, vccsim.Config{Seed: 1, Days: 10, CallsPerDay: 10_000, FixedRecordingSize: 1000})
	from, to := day0, day0.AddDate(0, 0, 7) // one Content window: 70,000 calls…
	to = day0.AddDate(0, 0, 10)             // …and the client splits the rest
	want := 0
	for _, it := range sim.Truth(from, to, "admin").Interactions {
		if it.Visible {
			want++
		}
	}
	b.Logf("%d visible interactions", want)
	b.Run("client", func(b *testing.B) {
		f := newClient(b, sim, "admin")
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, err := range f.c.Interactions(context.Background(), from, to) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != want {
				b.Fatalf("%d of %d", n, want)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		f := newClient(b, sim, "admin")
		tok, err := f.c.tokens[ScopeContent].token(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, w := range [][2]time.Time{{from, from.AddDate(0, 0, 7)}, {from.AddDate(0, 0, 7), to}} {
				token := ""
				for {
					u := fmt.Sprintf("%s/interaction-content/interactions?start=%s&end=%s&limit=%d", sim.URL,
						url.QueryEscape(isoTime(w[0])), url.QueryEscape(isoTime(w[1])), contentPageLimit)
					if token != "" {
						u += "&continuationToken=" + url.QueryEscape(token)
					}
					req, _ := http.NewRequest(http.MethodGet, u, nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Accept", apiContent.accept)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					var env struct {
						Items []interactionJSON `json:"items"`
						Meta  struct {
							Next *string `json:"nextContinuationToken"`
						} `json:"meta"`
					}
					err = json.NewDecoder(resp.Body).Decode(&env)
					resp.Body.Close()
					if err != nil {
						b.Fatal(err)
					}
					n += len(env.Items)
					if token = deref(env.Meta.Next); token == "" {
						break
					}
				}
			}
			if n != want {
				b.Fatalf("%d of %d", n, want)
			}
		}
	})
}

// BenchmarkDownload reports the client's allocations per downloaded MiB
// (B/op divided by 64).
func BenchmarkDownload64MiB(b *testing.B) {
	sim := startSim(b, vccsim.Config{Seed: 1, Days: 1, CallsPerDay: 3, FixedRecordingSize: 64 << 20})
	f := newClient(b, sim, "admin")
	var guid string
	for it, err := range f.c.Interactions(context.Background(), day0, day0.AddDate(0, 0, 1)) {
		if err != nil {
			b.Fatal(err)
		}
		if strings.Contains(fmt.Sprint(it.Content), "callRecording") {
			guid = it.GUID
			break
		}
	}
	b.SetBytes(64 << 20)
	b.ReportAllocs()
	for b.Loop() {
		r, err := f.c.Open(context.Background(), guid, ContentItem{Key: "callRecording", Type: "callRecording", ContentType: "audio/wav", Length: 64 << 20})
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != 64<<20 {
			b.Fatal(n, err)
		}
		r.Close()
	}
}
