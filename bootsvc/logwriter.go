package bootsvc

import (
	"io"
	"sync"
	"time"
)

// LogWriter batches the boot service's log lines into few writes: a request
// log line written straight to a file is a system call per request, as much
// as answering the request costs. Lines reach w at most a flush interval
// late, when 64 KiB are pending, and at Close.
type LogWriter struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	err  error // the first write error, returned from then on
	stop chan struct{}
	done chan struct{}
}

const logBatch = 64 << 10

// NewLogWriter starts flushing to w every interval; Close stops it.
func NewLogWriter(w io.Writer, interval time.Duration) *LogWriter {
	l := &LogWriter{w: w, buf: make([]byte, 0, logBatch), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.Flush()
			}
		}
	}()
	return l
}

func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	l.buf = append(l.buf, p...)
	if len(l.buf) >= logBatch {
		l.flushLocked()
	}
	return len(p), nil
}

// Flush writes what is pending.
func (l *LogWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	return l.err
}

func (l *LogWriter) flushLocked() {
	if len(l.buf) == 0 || l.err != nil {
		return
	}
	_, l.err = l.w.Write(l.buf)
	l.buf = l.buf[:0]
}

// Close stops the flushing and writes what is pending; it does not close w.
func (l *LogWriter) Close() error {
	close(l.stop)
	<-l.done
	return l.Flush()
}
