package scenario

import (
	"errors"
	"strings"
)

// Summary is a built-in scenario as `labctl scenarios` lists it.
type Summary struct {
	Name        string   `json:"name"`
	Description string   `json:"description"` // the description's first sentence
	Images      []string `json:"images"`
	Machines    []string `json:"machines"`
}

// List summarises the built-in scenarios, sorted by name. A scenario that
// does not load is an error naming it (the tests keep that from shipping).
func List() ([]Summary, error) {
	var out []Summary
	var errs []error
	for _, name := range Names() {
		s, err := Find(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sum := Summary{Name: s.Name, Description: s.Headline(), Images: s.ImageNames(), Machines: []string{}}
		if sum.Images == nil {
			sum.Images = []string{}
		}
		for _, m := range s.Machines {
			sum.Machines = append(sum.Machines, m.Name)
		}
		out = append(out, sum)
	}
	return out, errors.Join(errs...)
}

// Headline is the description's first sentence, on one line.
func (s *Scenario) Headline() string {
	d := strings.Join(strings.Fields(s.Description), " ")
	if i := strings.Index(d, ". "); i >= 0 {
		d = d[:i+1]
	}
	return d
}
