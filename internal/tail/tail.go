// Package tail gives the last lines of a log, for error messages: a machine
// or process that fails is reported with what it printed last.
package tail

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// maxRead bounds how much of a file is read: the end is what explains.
const maxRead = 64 << 10

// maxLine bounds a line shown: firmware menus redraw a screen in one line.
const maxLine = 200

// terminal matches what a serial console prints for a screen rather than a
// reader: escape sequences (GRUB's and OVMF's cursor moves and colours) and
// control characters other than tab and newline.
var terminal = regexp.MustCompile(`\x1b\[[0-9;?=]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[^\[()]|[\x00-\x08\x0b-\x1f\x7f]`)

// Lines returns the last n lines of s.
func Lines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// File returns the last n lines of the file at path, without terminal
// escapes, each indented with "  | ", or why it could not be read.
func File(path string, n int) string {
	s, err := Clean(path, n)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return "  | " + strings.ReplaceAll(s, "\n", "\n  | ")
}

// Clean returns the last n lines of the file at path that are not blank,
// without terminal escapes, long lines cut (a console's tail for a page, as File's for an error).
func Clean(path string, n int) (string, error) {
	s, err := read(path)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, l := range strings.Split(terminal.ReplaceAllString(s, ""), "\n") {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			continue // a console's blank lines would take the place of lines that say something
		}
		if r := []rune(l); len(r) > maxLine {
			l = string(r[:maxLine]) + " …"
		}
		lines = append(lines, l)
	}
	return Lines(strings.Join(lines, "\n"), n), nil
}

// Serial introduces and gives the last n lines of a machine's serial log,
// for the error that machine failed with.
func Serial(path string, n int) string {
	return "serial log " + path + ", last lines:\n" + File(path, n)
}

// read returns up to maxRead bytes from the end of the file.
func read(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxRead {
		f.Seek(st.Size()-maxRead, io.SeekStart)
	}
	raw, err := io.ReadAll(f)
	return string(raw), err
}
