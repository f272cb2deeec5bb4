package memlog_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sentstub/sentstub/internal/memlog"
)

func record(i, size int) []byte {
	return bytes.Repeat([]byte{byte('a' + i%26)}, size)
}

// Records come back as they went in, by position and oldest first, across
// chunk boundaries and with records larger than a chunk among them.
func TestAppendReadDrop(t *testing.T) {
	const chunk = 4096
	l := memlog.New(chunk)
	defer l.Close()
	sizes := []int{0, 1, 100, 4092, 5000, 3000, 3000, 12345, 7, 4091, 1}
	var pos []memlog.Pos
	for i, n := range sizes {
		p, err := l.Append(record(i, n))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if p == 0 {
			t.Fatalf("append %d: position 0", i)
		}
		for j, q := range pos {
			if p <= q {
				t.Fatalf("append %d: position %#x is not after record %d's %#x", i, p, j, q)
			}
		}
		pos = append(pos, p)
	}
	if l.Len() != len(sizes) {
		t.Fatalf("Len = %d, want %d", l.Len(), len(sizes))
	}
	for i, p := range pos {
		if got := l.At(p); !bytes.Equal(got, record(i, sizes[i])) {
			t.Fatalf("At(record %d) = %d bytes %.8q, want %d bytes", i, len(got), got, sizes[i])
		}
	}
	for i := range sizes {
		p, rec, ok := l.Oldest()
		if !ok || p != pos[i] || !bytes.Equal(rec, record(i, sizes[i])) {
			t.Fatalf("Oldest before dropping %d = %#x, %d bytes, %v; want %#x, %d bytes", i, p, len(rec), ok, pos[i], sizes[i])
		}
		l.DropOldest()
		for j := i + 1; j < len(sizes); j++ { // the rest are intact
			if !bytes.Equal(l.At(pos[j]), record(j, sizes[j])) {
				t.Fatalf("after dropping %d, record %d changed", i, j)
			}
		}
	}
	if _, _, ok := l.Oldest(); ok || l.Len() != 0 {
		t.Fatalf("after dropping all: Oldest ok = %v, Len = %d", ok, l.Len())
	}
	l.DropOldest() // nothing to drop: no effect
	if l.Len() != 0 {
		t.Fatalf("Len = %d after dropping from an empty log", l.Len())
	}
}

// A chunk goes back to the system when its last record is dropped, not
// before; the chunk being written stays for the next records.
func TestChunksAreGivenBack(t *testing.T) {
	const chunk = 64 << 10
	l := memlog.New(chunk)
	defer l.Close()
	if l.Mapped() != 0 {
		t.Fatalf("a new log maps %d bytes, want 0", l.Mapped())
	}
	rec := record(0, 1000)
	perChunk := chunk / (1000 + 4)
	n := 3*perChunk + 10 // three full chunks and part of a fourth
	for range n {
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if l.Mapped() != 4*chunk {
		t.Fatalf("after %d records of 1000 bytes, Mapped = %d, want four chunks, %d", n, l.Mapped(), 4*chunk)
	}
	for range perChunk - 1 {
		l.DropOldest()
	}
	if l.Mapped() != 4*chunk {
		t.Fatalf("with one record left in the first chunk, Mapped = %d, want %d", l.Mapped(), 4*chunk)
	}
	l.DropOldest()
	if l.Mapped() != 3*chunk {
		t.Fatalf("with the first chunk's records dropped, Mapped = %d, want %d", l.Mapped(), 3*chunk)
	}
	for l.Len() > 0 {
		l.DropOldest()
	}
	if l.Mapped() != chunk {
		t.Fatalf("empty, Mapped = %d, want the chunk being written, %d", l.Mapped(), chunk)
	}
	// An empty log that needs a new chunk gives back the one it kept.
	if _, err := l.Append(record(1, chunk)); err != nil {
		t.Fatal(err)
	}
	if m := l.Mapped(); m <= chunk || m >= 2*chunk { // the record's own chunk, in whole pages
		t.Fatalf("after a record larger than a chunk, Mapped = %d, want its own chunk alone, over %d", m, chunk)
	}
	l.Close()
	if l.Mapped() != 0 || l.Len() != 0 {
		t.Fatalf("after Close, Mapped = %d and Len = %d, want 0", l.Mapped(), l.Len())
	}
	p, err := l.Append(rec)
	if err != nil || !bytes.Equal(l.At(p), rec) {
		t.Fatalf("append after Close: %v", err)
	}
}

func TestRecordOverLimit(t *testing.T) {
	l := memlog.New(0)
	defer l.Close()
	if _, err := l.Append(make([]byte, memlog.MaxRecord+1)); err == nil {
		t.Fatal("a record over MaxRecord was taken")
	}
	if l.Len() != 0 || l.Mapped() != 0 {
		t.Fatalf("a refused record left Len = %d, Mapped = %d", l.Len(), l.Mapped())
	}
}

// A position that holds no record panics instead of reading whatever is
// there.
func TestAtUnknownPosition(t *testing.T) {
	l := memlog.New(4096)
	defer l.Close()
	p, err := l.Append(record(0, 10))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []memlog.Pos{p + 4096, p + 1<<32, p - 1<<32} {
		t.Run(fmt.Sprintf("%#x", int64(bad)), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("At(%#x) did not panic", bad)
				}
			}()
			l.At(bad)
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	l := memlog.New(0)
	defer l.Close()
	rec := record(0, 800) // about a toggle's kept answer
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}
