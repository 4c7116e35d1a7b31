package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"
)

// Source is where an image's files come from: a release server (or its
// mirror) over HTTP, or a directory the user filled elsewhere.
type Source interface {
	// Get writes the file at url to dst. A partial dst from an interrupted
	// Get is continued where the source can, else rewritten.
	Get(ctx context.Context, url, dst string, progress Progress) error
	// Read returns a small metadata file (a version or stream document).
	Read(ctx context.Context, url string) ([]byte, error)
}

// Progress hears how far a download has come; total is -1 when unknown.
type Progress func(file string, done, total int64)

// maxMetadata bounds metadata reads: a stream document is a few tens of KiB.
const maxMetadata = 4 << 20

// HTTP fetches over HTTP(S), continuing partial files with Range requests.
type HTTP struct {
	Client *http.Client // default: http.DefaultClient
	// Attempts is how many times one Get tries before giving up (default 4);
	// each retry continues from what is already on disk.
	Attempts int
}

func (h *HTTP) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return http.DefaultClient
}

func (h *HTTP) Read(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(raw) > maxMetadata {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, maxMetadata)
	}
	return raw, nil
}

func (h *HTTP) Get(ctx context.Context, url, dst string, progress Progress) error {
	attempts := h.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	var err error
	for i := range attempts {
		if err = h.getOnce(ctx, url, dst, progress); err == nil || ctx.Err() != nil || errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if i < attempts-1 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(i+1) * 500 * time.Millisecond):
			}
		}
	}
	return fmt.Errorf("after %d attempts: %w", attempts, err)
}

// getOnce makes one request, asking for the rest of a partial dst.
func (h *HTTP) getOnce(ctx context.Context, url, dst string, progress Progress) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	total := int64(-1)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, size, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return restart(f, fmt.Errorf("GET %s: unexpected Content-Range %q for a file of %d bytes", url, resp.Header.Get("Content-Range"), have))
		}
		total = size
	case http.StatusOK: // the server ignored Range: start over
		if err := restart(f, nil); err != nil {
			return err
		}
		have = 0
		total = resp.ContentLength
	case http.StatusRequestedRangeNotSatisfiable:
		// Either the partial file is already whole or it is longer than the
		// file now on the server; verification tells which, so start over
		// only in the second case.
		if _, size, ok := contentRange(resp.Header.Get("Content-Range")); ok && size == have {
			return nil
		}
		return restart(f, fmt.Errorf("GET %s: %s for a partial file of %d bytes", url, resp.Status, have))
	case http.StatusNotFound:
		// As a missing file in a Dir source: the caller tells "absent" from
		// "failed to arrive".
		return fmt.Errorf("GET %s: %s: %w", url, resp.Status, fs.ErrNotExist)
	default:
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	name := path.Base(url)
	pw := &progressWriter{w: f, name: name, done: have, total: total, report: progress}
	if progress != nil {
		progress(name, have, total)
	}
	if _, err := io.Copy(pw, resp.Body); err != nil {
		return fmt.Errorf("GET %s: after %d bytes: %w", url, pw.done, err)
	}
	if total >= 0 && pw.done != total {
		return fmt.Errorf("GET %s: got %d of %d bytes", url, pw.done, total)
	}
	return f.Sync()
}

// restart empties a partial file that cannot be continued.
func restart(f *os.File, err error) error {
	if terr := f.Truncate(0); terr != nil {
		return terr
	}
	if _, serr := f.Seek(0, io.SeekStart); serr != nil {
		return serr
	}
	return err
}

// contentRange parses "bytes START-END/SIZE" or "bytes */SIZE".
func contentRange(v string) (start, size int64, ok bool) {
	var end int64
	if n, _ := fmt.Sscanf(v, "bytes %d-%d/%d", &start, &end, &size); n == 3 {
		return start, size, true
	}
	if n, _ := fmt.Sscanf(v, "bytes */%d", &size); n == 1 {
		return -1, size, true
	}
	return 0, 0, false
}

type progressWriter struct {
	w           io.Writer
	name        string
	done, total int64
	last        time.Time
	report      Progress
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.report != nil && (time.Since(p.last) > time.Second || p.done == p.total) {
		p.last = time.Now()
		p.report(p.name, p.done, p.total)
	}
	return n, err
}

// Dir takes files the user downloaded elsewhere (an air-gapped rack): each
// URL's last element names a file in the directory.
type Dir string

func (d Dir) file(url string) string { return filepath.Join(string(d), path.Base(url)) }

func (d Dir) Read(ctx context.Context, url string) ([]byte, error) {
	raw, err := os.ReadFile(d.file(url))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxMetadata {
		return nil, fmt.Errorf("%s: larger than %d bytes", d.file(url), maxMetadata)
	}
	return raw, nil
}

func (d Dir) Get(ctx context.Context, url, dst string, progress Progress) error {
	in, err := os.Open(d.file(url))
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s: %w", d.file(url), err)
	}
	return out.Sync()
}
