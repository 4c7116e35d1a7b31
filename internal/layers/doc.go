// Package layers holds no code: its test keeps the import rules of
// docs/architecture.md true (no import runs upward).
package layers
