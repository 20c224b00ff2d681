package server

import (
	"embed"
	"github.com/vccingest/vccingest/internal/plural"
	"html/template"
	"net/http"
	"time"

	"github.com/dustin/go-humanize"
)

//go:embed templates/status.html
var templates embed.FS

var statusTmpl = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"seconds": func(s *float64) string {
		if s == nil {
			return "unknown"
		}
		return (time.Duration(*s * float64(time.Second))).Round(time.Second).String()
	},
	"bytes":  func(n int64) string { return humanize.IBytes(uint64(max(n, 0))) },
	"chart":  dayChart,
	"ptr":    func(v float64) *float64 { return &v },
	"int":    func(v int64) int { return int(v) },
	"plural": plural.Word,
}).ParseFS(templates, "templates/status.html"))

// pageTenant is one tenant on the status page.
type pageTenant struct {
	TenantJSON
	Gaps     []pageGap
	Failures []FailureJSON
}

// pageGap is a permission gap in plain words.
type pageGap struct {
	Advice   string
	Hidden   int
	Evidence string
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	ts, err := s.tenants(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	page := struct {
		Version string
		Now     time.Time
		Tenants []pageTenant
	}{Version: s.cfg.Version, Now: s.cfg.Now().UTC()}
	for _, t := range ts {
		pt := pageTenant{TenantJSON: t}
		if c := t.Coverage; c != nil {
			for _, g := range c.Diagnosis.Gaps {
				pt.Gaps = append(pt.Gaps, pageGap{Advice: g.Advice(), Hidden: g.Hidden, Evidence: g.Evidence})
			}
		}
		if pt.Failures, err = s.failures(r.Context(), t.ID, 5); err != nil {
			s.internalError(w, r, err)
			return
		}
		page.Tenants = append(page.Tenants, pt)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusTmpl.Execute(w, page); err != nil {
		s.cfg.Logger.Error("render the status page", "error", err)
	}
}
