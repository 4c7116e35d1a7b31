package bootsvc

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// NewLogger returns a logger that writes slog's text format to w, which must
// take concurrent writes (a LogWriter does). The boot service writes its
// request lines to w itself, in the same format: slog's generic record and
// attribute handling was a third of what /ipxe cost beyond a bare handler.
// Other loggers get the same lines through slog.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	h := &logHandler{Handler: slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}), w: w}
	h.bufs.New = func() any { return new([]byte) }
	return slog.New(h)
}

// logHandler is slog's text handler plus the writer under it. With
// attributes or a group it becomes slog's own handler (WithAttrs and
// WithGroup are not overridden), whose lines the request log could not
// reproduce.
type logHandler struct {
	slog.Handler
	w    io.Writer
	bufs sync.Pool // of *[]byte, one line each
}

// requestLog is what the log line of one request says.
type requestLog struct {
	time         time.Time
	level        slog.Level
	method, path string
	status       int
	took         time.Duration
	remote       string
	info         *reqInfo
}

const requestMsg = "http request"

// write logs l through h: formatted here when h is a logHandler, else as a
// slog record.
func (l *requestLog) write(ctx context.Context, h slog.Handler) {
	if lh, ok := h.(*logHandler); ok {
		b := lh.bufs.Get().(*[]byte)
		*b = l.appendText((*b)[:0])
		lh.w.Write(*b)
		lh.bufs.Put(b)
		return
	}
	h.Handle(ctx, l.record())
}

// record is l as a slog record. It is made here, not by Logger.LogAttrs,
// which walks the stack for the caller on every call (a source the request
// log never shows).
func (l *requestLog) record() slog.Record {
	rec := slog.NewRecord(l.time, l.level, requestMsg, 0)
	rec.AddAttrs(slog.String("method", l.method), slog.String("path", l.path), slog.Int("status", l.status),
		slog.Duration("took", l.took), slog.String("remote", l.remote))
	ri := l.info
	if ri.labels != nil {
		rec.AddAttrs(slog.String("labels", labelString(ri.labels)))
	}
	if ri.group != "" {
		rec.AddAttrs(slog.String("group", ri.group), slog.String("profile", ri.profile))
	}
	if ri.name != "" {
		rec.AddAttrs(slog.String("event", ri.name))
	}
	if ri.err != "" {
		rec.AddAttrs(slog.String("err", ri.err))
	}
	return rec
}

// appendText appends the line slog.TextHandler prints for l.record()
// (TestRequestLogText holds it to that).
func (l *requestLog) appendText(b []byte) []byte {
	b = append(b, "time="...)
	b = appendMillis(b, l.time)
	b = append(b, " level="...)
	b = append(b, l.level.String()...)
	b = append(b, ` msg="`+requestMsg+`" method=`...)
	b = appendTextString(b, l.method)
	b = append(b, " path="...)
	b = appendTextString(b, l.path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, " took="...)
	b = append(b, l.took.String()...)
	b = append(b, " remote="...)
	b = appendTextString(b, l.remote)
	ri := l.info
	if ri.labels != nil {
		// Always quoted (every pair holds a '='), so written in place
		// between quotes unless a character needs escaping.
		b = append(b, ` labels="`...)
		start := len(b)
		b = appendLabels(b, ri.labels)
		if plainText(b[start:]) {
			b = append(b, '"')
		} else {
			b = strconv.AppendQuote(b[:start-1], string(b[start:]))
		}
	}
	if ri.group != "" {
		b = append(b, " group="...)
		b = appendTextString(b, ri.group)
		b = append(b, " profile="...)
		b = appendTextString(b, ri.profile)
	}
	if ri.name != "" {
		b = append(b, " event="...)
		b = appendTextString(b, ri.name)
	}
	if ri.err != "" {
		b = append(b, " err="...)
		b = appendTextString(b, ri.err)
	}
	return append(b, '\n')
}

// appendMillis appends t in RFC 3339 with milliseconds, as slog does:
// through time.RFC3339Nano, the layout Go formats fastest, with 1/10 ms
// added to the truncated time so that there are always four fractional
// digits, the fourth then dropped.
func appendMillis(b []byte, t time.Time) []byte {
	const prefix = len("2006-01-02T15:04:05.000")
	n := len(b)
	b = t.Truncate(time.Millisecond).Add(time.Millisecond/10).AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefix], b[n+prefix+1:]...)
}

// appendTextString appends s as slog's text handler writes a string value:
// as it is, unless it is empty or holds a space, '=', '"', a control
// character or a non-printable or invalid rune; then quoted, as by
// strconv.Quote.
func appendTextString(b []byte, s string) []byte {
	quote := s == ""
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			quote = quote || c <= ' ' || c == '=' || c == '"'
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		quote = quote || r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r)
		i += size
	}
	switch {
	case !quote:
		return append(b, s...)
	case plainText(s):
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return strconv.AppendQuote(b, s)
}

// plainText reports whether strconv.Quote would leave text as it is
// between its quotes: printable ASCII, no '"' and no '\\'.
func plainText[T string | []byte](text T) bool {
	for i := range len(text) {
		if c := text[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
