package dashboard

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/labctl/labctl/lab/state"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages are the dashboard's and the report's templates: one renderer for
// both, so the report shows what the dashboard shows.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"secs": func(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) },
	"sub":  func(a, b time.Duration) time.Duration { return a - b },
	"pct": func(d, scale time.Duration) string {
		if scale <= 0 {
			return "0"
		}
		return fmt.Sprintf("%.2f", 100*float64(d)/float64(scale))
	},
	"age":  age,
	"last": last,
	"join": func(s []string) string { return strings.Join(s, ", ") },
}).ParseFS(templateFS, "templates/*.html"))

// labsPage is the labs page's data.
type labsPage struct {
	Root        string
	Labs        []state.Summary
	Now         time.Time
	BootService string // a standing boot service's URL, linked when set
}

// labPage is a lab page's data: Lab is nil while no lab of that name is up
// and was never seen (Why says what reading it said, if not just absent).
type labPage struct {
	Name, Root, Why string
	Lab             *Lab
}

// WriteReport writes the lab as one self-contained HTML page (styles
// inline, no script, nothing fetched), the test run's report.
func WriteReport(w io.Writer, l *Lab) error {
	return pages.ExecuteTemplate(w, "report", l)
}

// age is how long before now t was, to the minute: a live page is sent
// again only when what it shows changes, and an age in seconds would change
// it every tick.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	d := now.Sub(t)
	if d < time.Minute {
		return "under a minute"
	}
	return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s")
}

func htmlEscape(s string) string { return template.HTMLEscapeString(s) }
