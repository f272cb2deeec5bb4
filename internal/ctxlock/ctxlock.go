// Package ctxlock provides a mutual-exclusion lock whose waiting honours a
// context.
//
// A buffered channel of one is the usual lock of that kind, but it hands
// the lock over: an unlock gives it to the longest waiter, which holds it
// from then on while it waits to be scheduled, typically until the
// unlocking goroutine next blocks. Under contention every hand-over leaves
// the lock held by a goroutine that is not running, and the lock's users
// form a convoy behind it. A Mutex is released instead: an unlock frees it
// and wakes one waiter, and whoever asks first takes it, a running
// goroutine that arrives before the woken one included, as sync.Mutex does.
// The woken waiter that loses keeps its place at the head of the queue.
//
// A Mutex whose sections are shorter than parking and waking a goroutine
// (a few microseconds, most of it when the P has nothing else to run and
// its thread sleeps until the unlock wakes it) can have its lockers yield
// a few times before they park: see Mutex.Yields.
package ctxlock

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Mutex is a mutual-exclusion lock; the zero value is unlocked. It must not
// be copied after first use.
type Mutex struct {
	// Yields is how many times a locker that finds the mutex held yields
	// its P, trying again after each, before it parks; 0, at once. Set it
	// before first use, for sections shorter than a park. Nobody yields
	// while a woken waiter has been overtaken, so that lockers that yield
	// cannot starve it.
	Yields int

	held    atomic.Bool
	waiting atomic.Int32 // len(queue), read without mu by Unlock
	// overtaken counts the woken waiters that found m taken again and wait
	// once more.
	overtaken atomic.Int32

	mu    sync.Mutex      // guards queue
	queue []chan struct{} // parked lockers, oldest first; each is woken at most once
}

// Lock takes m, waiting while it is held until ctx is done; it returns
// ctx's error then, without m.
func (m *Mutex) Lock(ctx context.Context) error {
	if m.held.CompareAndSwap(false, true) || m.spin() {
		return nil
	}
	return m.wait(ctx, nil)
}

// LockBefore takes m, waiting while it is held until ctx is done or the
// deadline passes; it returns ctx's error or context.DeadlineExceeded then,
// without m. Unlike a context with that deadline, it costs no timer unless
// it has to wait: a caller whose ctx is never done (context.Background,
// or one without its parent's cancellation) still waits no longer.
func (m *Mutex) LockBefore(ctx context.Context, deadline time.Time) error {
	if m.held.CompareAndSwap(false, true) || m.spin() {
		return nil
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	return m.wait(ctx, timer.C)
}

// spin yields the P up to m.Yields times, trying to take m after each, and
// reports whether it did: a running goroutine, most likely the holder, was
// then done with m before the locker would have parked.
func (m *Mutex) spin() bool {
	for range m.Yields {
		if m.overtaken.Load() > 0 {
			return false
		}
		runtime.Gosched()
		if m.held.CompareAndSwap(false, true) {
			return true
		}
	}
	return false
}

// wait parks until m is taken, ctx is done or expired fires.
func (m *Mutex) wait(ctx context.Context, expired <-chan time.Time) error {
	wake := make(chan struct{}, 1)
	front := false // overtaken once: counted in m.overtaken until it returns
	defer func() {
		if front {
			m.overtaken.Add(-1)
		}
	}()
	for {
		m.enqueue(wake, front)
		// An Unlock between the failed attempt and enqueue saw no waiter
		// and woke nobody: try again now that Unlock would see this one.
		if m.held.CompareAndSwap(false, true) {
			m.dequeue(wake) // or an Unlock took it out: its wake-up is spent on this one
			return nil
		}
		var err error
		select {
		case <-wake:
			if m.held.CompareAndSwap(false, true) {
				return nil
			}
			if !front { // overtaken: wait again, first in line
				front = true
				m.overtaken.Add(1)
			}
			continue
		case <-ctx.Done():
			err = ctx.Err()
		case <-expired:
			err = context.DeadlineExceeded
		}
		if !m.dequeue(wake) {
			// An Unlock chose this waiter as this one gave up: pass the
			// wake-up on, or the next waiter would sleep while m is free.
			m.wakeOne()
		}
		return err
	}
}

// TryLock takes m if it is free, and reports whether it did.
func (m *Mutex) TryLock() bool { return m.held.CompareAndSwap(false, true) }

// Unlock releases m, which must be held, and wakes the longest waiter, if
// any, to try to take it.
func (m *Mutex) Unlock() {
	if !m.held.CompareAndSwap(true, false) {
		panic("ctxlock: unlock of unlocked Mutex")
	}
	if m.waiting.Load() > 0 {
		m.wakeOne()
	}
}

func (m *Mutex) enqueue(wake chan struct{}, front bool) {
	m.mu.Lock()
	if front {
		m.queue = append(m.queue, nil)
		copy(m.queue[1:], m.queue)
		m.queue[0] = wake
	} else {
		m.queue = append(m.queue, wake)
	}
	m.waiting.Store(int32(len(m.queue)))
	m.mu.Unlock()
}

// dequeue removes wake from the queue and reports whether it was there
// (false: an Unlock took it out to wake it).
func (m *Mutex) dequeue(wake chan struct{}) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, w := range m.queue {
		if w == wake {
			m.queue = append(m.queue[:i], m.queue[i+1:]...)
			m.waiting.Store(int32(len(m.queue)))
			return true
		}
	}
	return false
}

func (m *Mutex) wakeOne() {
	m.mu.Lock()
	if len(m.queue) == 0 {
		m.mu.Unlock()
		return
	}
	wake := m.queue[0]
	m.queue[0] = nil
	m.queue = m.queue[1:]
	m.waiting.Store(int32(len(m.queue)))
	m.mu.Unlock()
	wake <- struct{}{}
}
