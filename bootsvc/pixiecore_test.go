package bootsvc

import (
	"net/http"
	"testing"
)

func TestPixiecore(t *testing.T) {
	s := newTestServer(t, map[string]string{
		"groups/a.json":    `{"id":"a","profile":"pa","selector":{"mac":"52:54:00:00:00:0a"}}`,
		"groups/b.json":    `{"id":"b","profile":"pb","selector":{"mac":"52:54:00:00:00:0b"}}`,
		"profiles/pa.json": `{"id":"pa","boot":{"kernel":"/assets/vmlinuz","initrd":["/assets/a.img","--name main /assets/b.img"],"args":["console=ttyS0","initrd=main","report=http://h/r?a=1&b=2"]}}`,
		"profiles/pb.json": `{"id":"pb","boot":{"kernel":"http://mirror.example/k","initrd":[]}}`,
	}, Config{})
	tests := []struct {
		name, path string
		code       int
		body       string
	}{
		{"relative URLs made absolute, iPXE options dropped", "/pixiecore/v1/boot/52-54-00-00-00-0A", http.StatusOK,
			`{"kernel":"http://example.com/assets/vmlinuz","initrd":["http://example.com/assets/a.img","http://example.com/assets/b.img"],"cmdline":"console=ttyS0 initrd=main report=http://h/r?a=1&b=2"}` + "\n"},
		{"absolute URLs kept, no initrd is an empty list", "/pixiecore/v1/boot/52:54:00:00:00:0b", http.StatusOK,
			`{"kernel":"http://mirror.example/k","initrd":[],"cmdline":""}` + "\n"},
		{"no group matches", "/pixiecore/v1/boot/52:54:00:00:00:0c", http.StatusNotFound, "no group matches labels {mac=52:54:00:00:00:0c}\n"},
		{"bad MAC", "/pixiecore/v1/boot/52:54:zz", http.StatusBadRequest, "pixiecore: invalid MAC \"52:54:zz\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, s.Handler(), tt.path)
			if code != tt.code || body != tt.body {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.code, tt.body)
			}
		})
	}
	if m := s.Machines(); len(m) == 0 || m[0].MAC != "52:54:00:00:00:0a" {
		t.Errorf("machine log = %+v, want the Pixiecore request's MAC first", m)
	}
}
