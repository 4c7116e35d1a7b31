package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	os.WriteFile(p, []byte("a\nb\nc\n"), 0o644)
	for _, tt := range []struct {
		n    int
		want string
	}{{2, "  | b\n  | c"}, {5, "  | a\n  | b\n  | c"}} {
		if got := File(p, tt.n); got != tt.want {
			t.Errorf("File(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := File(p+".missing", 2); !strings.Contains(got, "no such file") {
		t.Errorf("missing file: %q", got)
	}
}
