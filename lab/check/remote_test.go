package check

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestRemoteCommand(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"etcdctl member list | wc -l"}, "etcdctl member list | wc -l"},
		{[]string{"printf", `%s\n`, "a b", "it's", ""}, `printf '%s\n' 'a b' 'it'\''s' ''`},
		{[]string{"ls", "-l", "/etc/hostname"}, "ls -l /etc/hostname"},
		{[]string{"echo", "$HOME", "*", "a;b"}, `echo '$HOME' '*' 'a;b'`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := RemoteCommand(tt.argv)
			if got != tt.want {
				t.Fatalf("RemoteCommand(%q) = %s, want %s", tt.argv, got, tt.want)
			}
			if len(tt.argv) == 1 {
				return
			}
			// A real shell gets back exactly the arguments.
			out, err := exec.Command("sh", "-c", "set -- "+got+`; for a in "$@"; do printf '%s\0' "$a"; done`).Output()
			if err != nil {
				t.Fatal(err)
			}
			args := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
			if !reflect.DeepEqual(args, tt.argv) {
				t.Errorf("sh saw %q, want %q", args, tt.argv)
			}
		})
	}
}
