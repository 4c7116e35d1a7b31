package serve

import (
	"errors"
	"net"
	"sync"
)

// listeners is one net.Listener over several (the lab's IPv4 and IPv6
// gateways), so that one http.Server, and the one watcher of the data
// directory its Serve starts, answers on all of them.
type listeners struct {
	lns   []net.Listener
	conns chan accepted
	done  chan struct{}
	once  sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

// listenAll listens on each address, and takes the listeners in more as
// well (closing them too on failure); the first address is the one Addr
// reports.
func listenAll(addrs []string, more ...net.Listener) (net.Listener, error) {
	l := &listeners{conns: make(chan accepted), done: make(chan struct{})}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			l.lns = append(l.lns, more...)
			l.Close()
			return nil, err
		}
		l.lns = append(l.lns, ln)
	}
	l.lns = append(l.lns, more...)
	if len(l.lns) == 1 {
		return l.lns[0], nil
	}
	for _, ln := range l.lns {
		go l.accept(ln)
	}
	return l, nil
}

// accept passes on ln's connections until ln fails; its error (after Close:
// net.ErrClosed) goes to Accept, which then ends the server.
func (l *listeners) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		select {
		case l.conns <- accepted{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			return
		}
	}
}

func (l *listeners) Accept() (net.Conn, error) {
	select {
	case a := <-l.conns:
		return a.c, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listeners) Close() error {
	var errs []error
	l.once.Do(func() {
		close(l.done)
		for _, ln := range l.lns {
			errs = append(errs, ln.Close())
		}
	})
	return errors.Join(errs...)
}

func (l *listeners) Addr() net.Addr { return l.lns[0].Addr() }
