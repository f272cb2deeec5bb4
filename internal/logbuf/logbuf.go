// Package logbuf is an io.Writer for logs that keeps the write system call
// out of the caller's way: Write appends to a buffer and returns, and one
// goroutine writes what has gathered within a millisecond, in one call. Under
// load many lines share a call; when idle a line waits a millisecond. Nothing
// is dropped: a writer that falls behind by more than the bound makes Write
// wait.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// maxPending bounds what waits to be written.
const maxPending = 1 << 20

// gather is how long the flusher lets lines gather once one is there: a
// millisecond's lines share one write (at tens of thousands of requests a
// second, dozens of them), and no line waits longer than that.
const gather = time.Millisecond

// Writer is a buffered, asynchronous io.Writer. Close writes what is
// pending and stops it.
type Writer struct {
	out  io.Writer
	mu   sync.Mutex
	room *sync.Cond // signalled when the pending bytes are taken
	buf  []byte     // pending
	err  error      // the first error of out, returned by later Writes
	shut bool

	wake chan struct{} // a token: there is something to write
	done chan struct{} // closed when the flusher has written everything and stopped
}

// New returns a Writer over out and starts its flusher.
func New(out io.Writer) *Writer {
	w := &Writer{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.room = sync.NewCond(&w.mu)
	go w.flush()
	return w
}

// Write queues p. It fails only after out has failed, or after Close.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.buf) > maxPending && w.err == nil && !w.shut {
		w.room.Wait()
	}
	if w.err != nil || w.shut {
		err := w.err
		w.mu.Unlock()
		if err == nil {
			err = io.ErrClosedPipe
		}
		return 0, err
	}
	w.buf = append(w.buf, p...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // the flusher is already due to run
	}
	return len(p), nil
}

func (w *Writer) flush() {
	defer close(w.done)
	var spare []byte
	for range w.wake {
		time.Sleep(gather)
		w.mu.Lock()
		pending, shut := w.buf, w.shut
		w.buf = spare[:0]
		w.room.Broadcast()
		w.mu.Unlock()
		if len(pending) > 0 {
			if _, err := w.out.Write(pending); err != nil {
				w.mu.Lock()
				w.err = err
				w.room.Broadcast()
				w.mu.Unlock()
			}
		}
		spare = pending
		if shut {
			return
		}
	}
}

// Close writes what is pending, then stops the Writer; later Writes fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.shut {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.shut = true
	w.room.Broadcast()
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // a token is pending: the flusher will see shut when it takes it
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
