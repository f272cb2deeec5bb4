package ctxlock_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentstub/sentstub/internal/ctxlock"
)

// forYields runs test on a Mutex that parks at once and on one whose
// lockers yield first.
func forYields(t *testing.T, test func(t *testing.T, yields int)) {
	for _, yields := range []int{0, 2} {
		t.Run(fmt.Sprintf("yields=%d", yields), func(t *testing.T) { test(t, yields) })
	}
}

// Under -race, a section that two goroutines entered at once is a data
// race on count; without it, a lost increment.
func TestMutualExclusion(t *testing.T) {
	forYields(t, func(t *testing.T, yields int) {
		var (
			m     = &ctxlock.Mutex{Yields: yields}
			count int
			wg    sync.WaitGroup
		)
		const goroutines, rounds = 16, 2000
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					if err := m.Lock(context.Background()); err != nil {
						t.Error(err)
						return
					}
					count++
					m.Unlock()
				}
			}()
		}
		wg.Wait()
		if count != goroutines*rounds {
			t.Fatalf("count = %d, want %d", count, goroutines*rounds)
		}
	})
}

func TestLockGivesUpWhenContextEnds(t *testing.T) {
	forYields(t, func(t *testing.T, yields int) {
		m := &ctxlock.Mutex{Yields: yields}
		if err := m.Lock(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := m.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lock of a held mutex = %v, want %v", err, context.DeadlineExceeded)
		}
		m.Unlock()
		if !m.TryLock() {
			t.Fatal("the mutex is held after its only holder unlocked it: the waiter that gave up took it")
		}
		m.Unlock()
	})
}

// LockBefore's deadline bounds the wait when its context never ends, and
// its context still ends the wait before the deadline.
func TestLockBeforeGivesUpAtDeadlineOrContext(t *testing.T) {
	forYields(t, func(t *testing.T, yields int) {
		m := &ctxlock.Mutex{Yields: yields}
		if !m.TryLock() {
			t.Fatal("TryLock of a free mutex failed")
		}
		start := time.Now()
		if err := m.LockBefore(context.Background(), start.Add(20*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("LockBefore of a held mutex = %v, want %v", err, context.DeadlineExceeded)
		}
		if waited := time.Since(start); waited < 20*time.Millisecond {
			t.Errorf("LockBefore gave up after %v, before its deadline", waited)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		if err := m.LockBefore(ctx, time.Now().Add(time.Hour)); !errors.Is(err, context.Canceled) {
			t.Fatalf("LockBefore whose context was canceled = %v, want %v", err, context.Canceled)
		}
		got := make(chan error)
		go func() { got <- m.LockBefore(context.Background(), time.Now().Add(time.Hour)) }()
		time.Sleep(10 * time.Millisecond)
		m.Unlock()
		wokenByUnlock(t, got, "a LockBefore waiter")
		if m.TryLock() {
			t.Fatal("the mutex is free after LockBefore took it")
		}
		m.Unlock()
		if !m.TryLock() {
			t.Fatal("the mutex is held after its holder unlocked it: a waiter that gave up took it")
		}
	})
}

// wokenByUnlock fails unless the waiter whose result got carries took the
// mutex, without error, after an Unlock.
func wokenByUnlock(t *testing.T, got <-chan error, waiter string) {
	t.Helper()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal(waiter + " was not woken by Unlock")
	}
}

func TestLockWaitsForUnlock(t *testing.T) {
	forYields(t, func(t *testing.T, yields int) {
		m := &ctxlock.Mutex{Yields: yields}
		if !m.TryLock() {
			t.Fatal("TryLock of a free mutex failed")
		}
		if m.TryLock() {
			t.Fatal("TryLock of a held mutex succeeded")
		}
		got := make(chan error)
		go func() { got <- m.Lock(context.Background()) }()
		select {
		case err := <-got:
			t.Fatalf("Lock returned %v while the mutex was held", err)
		case <-time.After(20 * time.Millisecond):
		}
		m.Unlock()
		wokenByUnlock(t, got, "a Lock waiter")
		m.Unlock()
	})
}

// Each round races an Unlock against what a waiter is doing at that
// moment: arriving (between its failed attempt and its place in the queue)
// or giving up (its context ending as the Unlock chooses it). A wake-up
// lost in either race leaves a waiter asleep while the mutex is free, and
// the round fails when that waiter has not taken it within a second.
func TestNoWakeUpIsLost(t *testing.T) {
	forYields(t, func(t *testing.T, yields int) {
		taken := func(t *testing.T, round int, got <-chan error) {
			t.Helper()
			select {
			case err := <-got:
				if err != nil {
					t.Fatalf("round %d: Lock without a deadline = %v", round, err)
				}
			case <-time.After(time.Second):
				t.Fatalf("round %d: a waiter sleeps while the mutex is free: a wake-up was lost", round)
			}
		}
		t.Run("arriving", func(t *testing.T) {
			m := &ctxlock.Mutex{Yields: yields}
			for round := range 20000 {
				m.TryLock()
				got := make(chan error, 1)
				var started atomic.Bool
				go func() {
					started.Store(true)
					got <- m.Lock(context.Background())
				}()
				for !started.Load() { // both running now, on two Ps
				}
				// From at once to past the waiter's spin, at every scale.
				spin(round % 64 << (round / 64 % 8))
				m.Unlock()
				taken(t, round, got)
				m.Unlock()
			}
		})
		t.Run("giving up", func(t *testing.T) {
			m := &ctxlock.Mutex{Yields: yields}
			for round := range 1000 {
				m.TryLock()
				ctx, cancel := context.WithCancel(context.Background())
				first := make(chan error, 1)
				go func() { first <- m.Lock(ctx) }()
				time.Sleep(100 * time.Microsecond) // first in the queue
				second := make(chan error, 1)
				go func() { second <- m.Lock(context.Background()) }()
				time.Sleep(100 * time.Microsecond)
				cancel()
				m.Unlock()
				if err := <-first; err == nil {
					m.Unlock() // it took the mutex before it saw its context end
				}
				taken(t, round, second)
				m.Unlock()
			}
		})
	})
}

// spin busy-waits about n short steps, to vary where a race falls.
func spin(n int) {
	var x atomic.Int64
	for range n {
		x.Add(1)
	}
}

func TestUnlockOfUnlockedPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Unlock of an unlocked mutex did not panic")
		}
	}()
	var m ctxlock.Mutex
	m.Unlock()
}

// BenchmarkContended is the lock's cost with every P contending for a
// short section, against a channel of one, the lock it replaced.
func BenchmarkContended(b *testing.B) {
	section := func() {
		for i := range 50 {
			_ = i * i
		}
	}
	b.Run("ctxlock", func(b *testing.B) {
		var m ctxlock.Mutex
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if err := m.Lock(ctx); err != nil {
					b.Error(err)
					return
				}
				section()
				m.Unlock()
			}
		})
	})
	b.Run("chan", func(b *testing.B) {
		sem := make(chan struct{}, 1)
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				section()
				<-sem
			}
		})
	})
}
