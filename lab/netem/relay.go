// Package netem is a userspace netem for a lab machine's link. QEMU's
// filter-redirector hands each frame the machine sends to a relay in the
// lab process, which hands it back once due: after a fixed delay, with
// jitter, or reordered, as Linux's netem qdisc would (the kernels labctl
// runs on need not have one: this machine's has none). Links keeps the
// relays of one lab and serves the API that sets them from another process.
package netem

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Shape is what a relay does to the frames it is handed, in netem's terms:
// each waits Delay, give or take up to Jitter (uniform), except Reorder
// percent of them, sent at once and so ahead of those held.
type Shape struct {
	Delay   time.Duration `json:"delay"`
	Jitter  time.Duration `json:"jitter,omitempty"`
	Reorder int           `json:"reorder,omitempty"`
}

// Check says what is wrong with s, naming the field.
func (s Shape) Check() error {
	switch {
	case s.Delay <= 0:
		return fmt.Errorf("delay %s: want a positive delay", s.Delay)
	case s.Jitter < 0 || s.Jitter > s.Delay:
		return fmt.Errorf("jitter %s: want 0 to the delay (%s)", s.Jitter, s.Delay)
	case s.Reorder < 0 || s.Reorder > 99:
		return fmt.Errorf("reorder %d: want 0 to 99 percent sent at once", s.Reorder)
	}
	return nil
}

// maxFrame bounds a frame's length field: QEMU's redirector sends frames
// of at most 69 KiB (NET_BUFSIZE); a larger length is a broken stream.
const maxFrame = 1 << 20

// relay holds the frames read from one stream until due, then writes
// them to another, in the order they fall due (arrival order among
// equals).
type relay struct {
	mu      sync.Mutex
	shape   Shape
	flush   bool // heal: everything held is due now
	queue   frames
	seq     uint64
	wake    chan struct{}
	rnd     *rand.Rand
	relayed atomic.Uint64
	early   atomic.Uint64
}

func newRelay(s Shape) *relay {
	return &relay{shape: s, wake: make(chan struct{}, 1), rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// run relays frames from src to dst until either fails or stop is closed.
// The reader ends once the caller closes src.
func (r *relay) run(src io.Reader, dst io.Writer, stop <-chan struct{}) error {
	quit := make(chan struct{})
	errc := make(chan error, 2)
	go func() { errc <- r.read(src) }()
	go func() { errc <- r.write(dst, stop, quit) }()
	err := <-errc
	close(quit) // the writer, if the reader ended first
	return err
}

// read takes frames off src (QEMU's redirector: a 4-byte big-endian
// length, then the frame) and queues each with its due time.
func (r *relay) read(src io.Reader) error {
	var n [4]byte
	for {
		if _, err := io.ReadFull(src, n[:]); err != nil {
			return err
		}
		size := binary.BigEndian.Uint32(n[:])
		if size > maxFrame {
			return fmt.Errorf("frame of %d bytes: not a redirector's stream", size)
		}
		buf := make([]byte, 4+size)
		copy(buf, n[:])
		if _, err := io.ReadFull(src, buf[4:]); err != nil {
			return err
		}
		r.push(buf, time.Now())
	}
}

func (r *relay) push(frame []byte, now time.Time) {
	r.mu.Lock()
	due := now
	s := r.shape
	if s.Reorder > 0 && r.rnd.IntN(100) < s.Reorder {
		r.early.Add(1)
	} else {
		d := s.Delay
		if s.Jitter > 0 {
			d += time.Duration(r.rnd.Int64N(int64(2*s.Jitter)+1)) - s.Jitter
		}
		due = now.Add(d)
	}
	r.seq++
	heap.Push(&r.queue, frame1{due: due, seq: r.seq, data: frame})
	r.mu.Unlock()
	r.poke()
}

func (r *relay) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// write sends each frame to dst when due.
func (r *relay) write(dst io.Writer, stop, quit <-chan struct{}) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.mu.Lock()
		var next frame1
		wait := time.Hour
		if len(r.queue) > 0 {
			if wait = time.Until(r.queue[0].due); wait <= 0 || r.flush {
				next = heap.Pop(&r.queue).(frame1)
			}
		}
		r.mu.Unlock()
		if next.data != nil {
			if _, err := dst.Write(next.data); err != nil {
				return err
			}
			r.relayed.Add(1)
			continue
		}
		timer.Reset(wait)
		select {
		case <-stop:
			return errStopped
		case <-quit:
			return errStopped
		case <-r.wake:
		case <-timer.C:
		}
	}
}

var errStopped = errors.New("relay stopped")

// drain makes every frame held due now and waits, up to limit, until the
// writer has sent them all: a healed link loses nothing it held.
func (r *relay) drain(limit time.Duration) {
	r.mu.Lock()
	r.flush = true
	r.mu.Unlock()
	r.poke()
	for end := time.Now().Add(limit); r.queued() > 0 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *relay) queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

func (r *relay) setShape(s Shape) {
	r.mu.Lock()
	r.shape = s
	r.mu.Unlock()
}

// frame1 is one held frame; frames is a heap of them, earliest due first.
type frame1 struct {
	due  time.Time
	seq  uint64
	data []byte
}

type frames []frame1

func (q frames) Len() int { return len(q) }
func (q frames) Less(i, j int) bool {
	if q[i].due.Equal(q[j].due) {
		return q[i].seq < q[j].seq
	}
	return q[i].due.Before(q[j].due)
}
func (q frames) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *frames) Push(x any)   { *q = append(*q, x.(frame1)) }
func (q *frames) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
