// Command bench measures vccingest against the limit and tries to break it.
// It is a program of this repository, not part of the shipped binary:
//
//	go run ./bench <scenario> [--quick] [--json PATH]
//
// Scenarios: throughput, memory, api-economy, metadata-scale, chaos (or all).
// Each builds the real vccingest binary, starts the VCC simulator on
// loopback, runs the binary against it, and prints a Markdown table of its
// figures with their goals; the last line is a one-line verdict. The exit
// status is 0 only when every goal holds. --quick finishes each scenario in
// under a minute on a 2-core machine; the full form is for reports.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// figure is one measured value and, if it has one, its goal.
type figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Goal  string  `json:"goal,omitempty"`
	OK    *bool   `json:"ok,omitempty"`
}

// result is one scenario's outcome.
type result struct {
	Scenario string    `json:"scenario"`
	Quick    bool      `json:"quick"`
	Machine  string    `json:"machine"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Figures  []figure  `json:"figures"`
	Notes    []string  `json:"notes,omitempty"`
	Pass     bool      `json:"pass"`
	Summary  string    `json:"summary"`
}

func (r *result) add(name string, value float64, unit string) {
	r.Figures = append(r.Figures, figure{Name: name, Value: value, Unit: unit})
}

// goal adds a figure with a goal; ok says whether it holds.
func (r *result) goal(name string, value float64, unit, goal string, ok bool) {
	r.Figures = append(r.Figures, figure{Name: name, Value: value, Unit: unit, Goal: goal, OK: &ok})
}

func (r *result) note(format string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(format, a...)) }

// env is what every scenario gets.
type env struct {
	ctx   context.Context
	bin   string // the vccingest binary
	quick bool
	work  string // scratch directory
	out   string // where charts go
}

var scenarios = map[string]func(*env, *result) error{
	"throughput":     throughput,
	"memory":         memory,
	"api-economy":    apiEconomy,
	"metadata-scale": metadataScale,
	"chaos":          chaos,
	"budget":         budget,
}

var order = []string{"throughput", "memory", "api-economy", "metadata-scale", "chaos", "budget"}

func main() {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	quick := fs.Bool("quick", false, "the short form of each scenario (under 60 s on 2 cores)")
	jsonPath := fs.String("json", "", "also write the figures as JSON to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench <%s|all> [--quick] [--json PATH]\n", strings.Join(order, "|"))
		fs.PrintDefaults()
	}
	args := os.Args[1:]
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		os.Exit(2)
	}
	name := args[0]
	_ = fs.Parse(args[1:])
	names := []string{name}
	if name == "all" {
		names = order
	} else if scenarios[name] == nil {
		fmt.Fprintf(os.Stderr, "bench: unknown scenario %q\n", name)
		fs.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	work, err := os.MkdirTemp("", "vccingest-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "vccingest")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/vccingest")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fatal(fmt.Errorf("build vccingest (run from the repository root): %w", err))
	}
	out := "" // charts go beside the JSON
	if *jsonPath != "" {
		out = filepath.Dir(*jsonPath)
	}
	e := &env{ctx: ctx, bin: bin, quick: *quick, work: work, out: out}

	var results []*result
	pass := true
	for _, n := range names {
		r := &result{Scenario: n, Quick: *quick, Machine: machine(), Started: time.Now().UTC()}
		began := time.Now()
		if err := scenarios[n](e, r); err != nil {
			r.note("error: %v", err)
			r.Pass = false
		} else {
			r.Pass = true
			for _, f := range r.Figures {
				if f.OK != nil && !*f.OK {
					r.Pass = false
				}
			}
		}
		r.Seconds = time.Since(began).Seconds()
		r.Summary = summary(r)
		printTable(os.Stdout, r)
		results = append(results, r)
		pass = pass && r.Pass
	}
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); err != nil {
			fatal(err)
		}
	}
	for _, r := range results {
		fmt.Println(r.Summary)
	}
	if !pass {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(2)
}

func machine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%s, %d CPUs, %s, host %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), host)
}

func summary(r *result) string {
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	var parts []string
	for _, f := range r.Figures {
		if f.Goal != "" {
			parts = append(parts, fmt.Sprintf("%s=%s", f.Name, format(f.Value)))
		}
	}
	return fmt.Sprintf("%s %s (%.0fs): %s", r.Scenario, verdict, r.Seconds, strings.Join(parts, " "))
}

func format(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e12:
		return fmt.Sprintf("%d", int64(v))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func printTable(w io.Writer, r *result) {
	mode := "full"
	if r.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "\n### %s (%s) — %s\n\n%s\n\n", r.Scenario, mode, map[bool]string{true: "PASS", false: "FAIL"}[r.Pass], r.Machine)
	fmt.Fprintln(w, "| figure | value | unit | goal | |")
	fmt.Fprintln(w, "|---|---:|---|---|---|")
	for _, f := range r.Figures {
		mark := ""
		if f.OK != nil {
			mark = map[bool]string{true: "ok", false: "**missed**"}[*f.OK]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", f.Name, format(f.Value), f.Unit, f.Goal, mark)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\n- %s", n)
	}
	fmt.Fprintln(w)
}
