package netem

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// pipeRelay runs a relay of shape s between two socket pairs, as QEMU's
// redirectors would feed it, and returns the ends QEMU holds.
func pipeRelay(t *testing.T, s Shape) (toRelay io.Writer, fromRelay net.Conn, r *relay) {
	t.Helper()
	outQEMU, outRelay := net.Pipe()
	inRelay, inQEMU := net.Pipe()
	r = newRelay(s)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { r.run(outRelay, inRelay, stop); close(done) }()
	t.Cleanup(func() { close(stop); outQEMU.Close(); inQEMU.Close(); <-done })
	return outQEMU, inQEMU, r
}

func writeFrame(t *testing.T, w io.Writer, seq byte) {
	t.Helper()
	b := []byte{0, 0, 0, 3, seq, 0xaa, 0xbb}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readFrames reads n frames, each with the time it came back.
func readFrames(t *testing.T, c net.Conn, n int) (seqs []byte, at []time.Time) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range n {
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			t.Fatalf("after %d frames: %v", len(seqs), err)
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatal(err)
		}
		if len(body) != 3 || body[1] != 0xaa || body[2] != 0xbb {
			t.Fatalf("frame %x: not as written", body)
		}
		seqs, at = append(seqs, body[0]), append(at, time.Now())
	}
	return seqs, at
}

// A fixed delay hands every frame back whole, in order, no sooner than
// the delay after it was handed over.
func TestRelayDelay(t *testing.T) {
	to, from, r := pipeRelay(t, Shape{Delay: 80 * time.Millisecond})
	sent := make([]time.Time, 10)
	go func() {
		for i := range sent {
			sent[i] = time.Now()
			writeFrame(t, to, byte(i))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	seqs, at := readFrames(t, from, len(sent))
	for i, s := range seqs {
		if int(s) != i {
			t.Fatalf("frames came back as %v, want in order", seqs)
		}
		if held := at[i].Sub(sent[i]); held < 80*time.Millisecond || held > 500*time.Millisecond {
			t.Errorf("frame %d held %s, want 80ms (and not much more)", i, held)
		}
	}
	for deadline := time.Now().Add(time.Second); r.relayed.Load() < 10 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
	}
	if n := r.relayed.Load(); n != 10 { // counted once written
		t.Errorf("relayed %d, want 10", n)
	}
}

// Jitter holds each frame the delay give or take up to the jitter.
func TestRelayJitter(t *testing.T) {
	r := newRelay(Shape{Delay: 100 * time.Millisecond, Jitter: 30 * time.Millisecond})
	now := time.Now()
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		r.push([]byte{0}, now)
	}
	for _, f := range r.queue {
		d := f.due.Sub(now)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 70*time.Millisecond || hi > 130*time.Millisecond || hi-lo < 50*time.Millisecond {
		t.Errorf("holds from %s to %s, want spread over 70ms to 130ms", lo, hi)
	}
}

// A reorder sends its share at once: those overtake the frames held.
func TestRelayReorder(t *testing.T) {
	to, from, r := pipeRelay(t, Shape{Delay: 100 * time.Millisecond, Reorder: 30})
	const n = 60
	go func() {
		for i := range n {
			writeFrame(t, to, byte(i))
			time.Sleep(time.Millisecond)
		}
	}()
	seqs, _ := readFrames(t, from, n)
	inversions, last := 0, -1
	for _, s := range seqs {
		if int(s) < last {
			inversions++
		}
		last = max(last, int(s))
	}
	early := r.early.Load()
	if inversions == 0 || early == 0 || early == n {
		t.Errorf("frames came back as %v (%d sent at once): want some overtaking the rest", seqs, early)
	}
}

// Draining hands back at once what is held, in order.
func TestRelayDrain(t *testing.T) {
	to, from, r := pipeRelay(t, Shape{Delay: time.Hour})
	for i := range 3 {
		writeFrame(t, to, byte(i))
	}
	for deadline := time.Now().Add(time.Second); r.queued() < 3 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
	}
	go r.drain(time.Second)
	if seqs, _ := readFrames(t, from, 3); string(seqs) != "\x00\x01\x02" {
		t.Errorf("drained %v, want 0 1 2", seqs)
	}
}

// A length no redirector sends ends the relay naming it.
func TestRelayBrokenStream(t *testing.T) {
	r := newRelay(Shape{Delay: time.Millisecond})
	pr, pw := io.Pipe()
	go pw.Write([]byte{0x7f, 0, 0, 0})
	err := r.read(pr)
	if err == nil || err.Error() != "frame of 2130706432 bytes: not a redirector's stream" {
		t.Errorf("err = %v, want the length named", err)
	}
}

func TestShapeCheck(t *testing.T) {
	for _, c := range []struct {
		s    Shape
		want string
	}{
		{Shape{Delay: time.Second, Jitter: 100 * time.Millisecond, Reorder: 25}, ""},
		{Shape{}, "delay 0s: want a positive delay"},
		{Shape{Delay: time.Second, Jitter: 2 * time.Second}, "jitter 2s: want 0 to the delay (1s)"},
		{Shape{Delay: time.Second, Reorder: 100}, "reorder 100: want 0 to 99 percent sent at once"},
	} {
		err := c.s.Check()
		if got := ""; err != nil {
			got = err.Error()
			if got != c.want {
				t.Errorf("%+v: %q, want %q", c.s, got, c.want)
			}
		} else if c.want != "" {
			t.Errorf("%+v: no error, want %q", c.s, c.want)
		}
	}
}

// A relay whose QEMU went away (its stream closed) ends, writer and all,
// without being stopped.
func TestRelayEndsWithItsSource(t *testing.T) {
	outQEMU, outRelay := net.Pipe()
	inRelay, _ := net.Pipe()
	r := newRelay(Shape{Delay: time.Second})
	done := make(chan error, 1)
	go func() { done <- r.run(outRelay, inRelay, make(chan struct{})) }()
	outQEMU.Close()
	select {
	case err := <-done:
		if err != io.EOF {
			t.Errorf("run ended with %v, want EOF", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the relay outlived its source")
	}
}
