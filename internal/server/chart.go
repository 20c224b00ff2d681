package server

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/coverage"
)

// The chart's series: what Stats reports, what is stored, what a
// permission hides.
var chartSeries = []struct {
	name, color string
	value       func(coverage.Bucket) int
}{
	{"calls in Stats", "#9aa3b2", func(b coverage.Bucket) int { return b.Calls }},
	{"recordings stored", "#2e9e4f", func(b coverage.Bucket) int { return b.Stored }},
	{"calls hidden", "#e0a100", func(b coverage.Bucket) int { return b.Hidden }},
}

// dayChart draws days (oldest first) as grouped bars, one group per day,
// in SVG: the status page needs no JavaScript. Each bar has a title (a
// tooltip, and text for screen readers).
func dayChart(days []coverage.Bucket) template.HTML {
	if len(days) == 0 {
		return ""
	}
	const (
		bar, gap, left, top, plotH, bottom = 9, 14, 34, 22, 110, 30
	)
	group := bar*len(chartSeries) + gap
	width := left + group*len(days) + 8
	height := top + plotH + bottom
	peak := 1
	for _, d := range days {
		for _, s := range chartSeries {
			peak = max(peak, s.value(d))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="calls and recordings per day, last %d days">`, width, height, width, height, len(days))
	// Axis: zero and the peak.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d5d9e0"/>`, left, top+plotH, width-8, top+plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="end" fill="#5b6475">%d</text>`, left-4, top+4, peak)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="end" fill="#5b6475">0</text>`, left-4, top+plotH)
	for i, d := range days {
		x := left + i*group + gap/2
		day := d.Key
		if t, err := time.Parse("2006-01-02", d.Key); err == nil {
			day = t.Format("Jan 2")
		}
		for j, s := range chartSeries {
			v := s.value(d)
			h := v * plotH / peak
			if v > 0 && h == 0 {
				h = 1
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s: %d %s</title></rect>`,
				x+j*bar, top+plotH-h, bar-1, h, s.color, template.HTMLEscapeString(day), v, s.name)
		}
		if i%2 == (len(days)-1)%2 || len(days) <= 7 { // every other label, the latest day always
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="middle" fill="#5b6475">%s</text>`,
				x+bar*len(chartSeries)/2, top+plotH+14, template.HTMLEscapeString(day))
		}
	}
	// Legend.
	x := left
	for _, s := range chartSeries {
		fmt.Fprintf(&b, `<rect x="%d" y="4" width="10" height="10" fill="%s"/><text x="%d" y="13" font-size="11" fill="#1d2330">%s</text>`, x, s.color, x+14, s.name)
		x += 14 + 7*len(s.name) + 14
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: built from numbers, fixed strings and escaped labels
}
