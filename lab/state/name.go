package state

import (
	"fmt"
	"regexp"
	"strings"
)

// labName is a scenario name: a DNS label, as scenarios validates it.
var labName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CheckName refuses a lab name that could reach outside the state
// directory, naming it and saying why.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("lab name is empty")
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("lab name %q contains a path separator", name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("lab name %q contains \"..\"", name)
	case !labName.MatchString(name):
		return fmt.Errorf("lab name %q is not a scenario name (lower-case letters, digits and '-')", name)
	}
	return nil
}
