package main

import (
	"fmt"
	"os"
	"strings"
)

// point is one x with two series' values.
type point struct{ x, a, b float64 }

// writeChart draws two series as an SVG line chart.
func writeChart(path, title, nameA, nameB string, pts []point) error {
	const w, h, left, bottom, top, right = 640.0, 360.0, 60.0, 40.0, 40.0, 20.0
	maxX, maxY := 0.0, 0.0
	for _, p := range pts {
		maxX, maxY = max(maxX, p.x), max(maxY, p.a, p.b)
	}
	if maxX == 0 || maxY == 0 {
		return nil
	}
	maxY *= 1.1
	px := func(x float64) float64 { return left + x/maxX*(w-left-right) }
	py := func(y float64) float64 { return h - bottom - y/maxY*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%g" y="22" font-size="14">%s</text>`+"\n", left, title)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/><line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n",
		left, h-bottom, w-right, h-bottom, left, top, left, h-bottom)
	for i := 0; i <= 4; i++ {
		y := maxY * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="end">%.0f</text><line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#ddd"/>`+"\n", left-6, py(y)+4, y, left, py(y), w-right, py(y))
	}
	for _, p := range pts {
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%g</text>`+"\n", px(p.x), h-bottom+16, p.x)
	}
	for _, s := range []struct {
		name, color string
		v           func(point) float64
		legendY     float64
	}{{nameA, "#1f77b4", func(p point) float64 { return p.a }, 40}, {nameB, "#ff7f0e", func(p point) float64 { return p.b }, 56}} {
		var d []string
		for _, p := range pts {
			d = append(d, fmt.Sprintf("%.1f,%.1f", px(p.x), py(s.v(p))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color, strings.Join(d, " "))
		fmt.Fprintf(&b, `<text x="%g" y="%g" fill="%s">%s</text>`+"\n", w-right-120, s.legendY, s.color, s.name)
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
