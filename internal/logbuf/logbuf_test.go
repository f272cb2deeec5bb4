package logbuf_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sentstub/sentstub/internal/logbuf"
	"github.com/sentstub/sentstub/internal/testutil"
)

// Every line written by many goroutines arrives whole, once, by Close.
func TestWriterKeepsEveryLine(t *testing.T) {
	var out testutil.SyncBuffer
	w := logbuf.New(&out)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				fmt.Fprintf(w, "g%d line %d\n", g, i)
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	if len(lines) != 16000 || len(seen) != 16000 {
		t.Errorf("%d lines, %d distinct; want 16000", len(lines), len(seen))
	}
	if _, err := w.Write([]byte("late\n")); err == nil {
		t.Errorf("a Write after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A failing destination is reported, and Writes stop queuing.
func TestWriterReportsFailure(t *testing.T) {
	w := logbuf.New(failing{})
	w.Write([]byte("x\n"))
	if err := w.Close(); err == nil || err.Error() != "disk full" {
		t.Errorf("Close = %v, want disk full", err)
	}
}
