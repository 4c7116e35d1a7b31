package scenario

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// baseFields are what a scenario with a base writes itself; the rest
// (machines, network, images, data, checks, ...) is its base's, so that
// it runs on a lab of its base (`labctl verify BASE --steps-from NAME`).
var baseFields = []string{"name", "description", "base", "steps"}

// onBase returns s, loaded from raw, completed from its base: the base's
// scenario with s's name, description and steps, its errors naming s's file.
func (s *Scenario) onBase(raw []byte) (*Scenario, error) {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Source, err)
	}
	for k := range top {
		if !slices.Contains(baseFields, k) {
			return nil, fmt.Errorf("%s: %s: comes from base %s; a scenario with a base sets only %s", s.Source, k, s.Base, strings.Join(baseFields, ", "))
		}
	}
	base, err := findBuiltin(s.Base, false)
	if err != nil {
		return nil, fmt.Errorf("%s: base: %w", s.Source, err)
	}
	if base.Base != "" {
		return nil, fmt.Errorf("%s: base: %s has a base itself (%s); name that one", s.Source, s.Base, base.Base)
	}
	merged := *base
	merged.Name, merged.Description, merged.Base, merged.Steps, merged.Source = s.Name, s.Description, s.Base, s.Steps, s.Source
	return &merged, nil
}

// dataDir names the scenario's data directory in errors.
func (s *Scenario) dataDir() string {
	if s.dataSource != "" {
		return s.dataSource
	}
	return path.Join(path.Dir(s.Source), "data")
}

// OnLab reports whether the scenario's steps can run on a lab of the
// scenario named lab: it is that scenario, or based on it.
func (s *Scenario) OnLab(lab string) bool {
	return s.Name == lab || s.Base == lab
}
