// Package memlog is an append-only log of byte records kept in memory
// outside the Go heap, read by position and dropped from its oldest end.
//
// It is for data that accumulates faster than it is read and leaves in the
// order it came, such as answers kept until they expire. On the Go heap
// such data is costly twice over: every byte kept raises the collector's
// heap goal by GOGC percent more, all of it fresh memory that the process
// must fault in and zero, and every record is an object that each
// collection marks. Records here are copied into chunks of memory mapped
// from the operating system (a Go slice on systems without mmap), which the
// collector neither counts nor scans, and a chunk goes back to the system
// as soon as its last record is dropped.
//
// A Log is not safe for concurrent use. A slice that At or Oldest returns
// aliases the log's memory: it is valid until its record is dropped or the
// log is closed, and must not be kept longer or written to.
package memlog

import (
	"encoding/binary"
	"fmt"
)

// DefaultChunkSize is the size of a chunk unless New is given another.
const DefaultChunkSize = 1 << 20

// MaxRecord is the largest record a log takes.
const MaxRecord = 1 << 30

// headerSize is the record's length, before its bytes.
const headerSize = 4

// Pos is where a record is: its chunk's sequence number in the high 32
// bits, its offset in the chunk in the low 32. Positions only grow, and
// are never 0, so that 0 can mean none.
type Pos int64

func at(seq uint32, off int) Pos { return Pos(int64(seq)<<32 | int64(off)) }

func (p Pos) seq() uint32 { return uint32(uint64(p) >> 32) }
func (p Pos) off() int    { return int(uint32(p)) }

// Log is an append-only log of records. The zero value is not usable: call
// New.
type Log struct {
	chunkSize int
	chunks    []chunk // the live chunks, oldest first
	firstSeq  uint32  // the sequence number of chunks[0]
	head      Pos     // the oldest record, when len > 0
	records   int
	mapped    int // bytes of all live chunks
}

type chunk struct {
	buf  []byte
	used int // bytes written; records never span chunks
}

// New returns an empty log whose chunks are chunkSize bytes (records larger
// than that get a chunk of their own), or DefaultChunkSize if chunkSize is
// 0. It maps nothing until the first Append.
func New(chunkSize int) *Log {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	return &Log{chunkSize: chunkSize, firstSeq: 1}
}

// Append copies rec to the end of the log and returns its position. It
// fails only when the system refuses memory or rec is over MaxRecord.
func (l *Log) Append(rec []byte) (Pos, error) {
	if len(rec) > MaxRecord {
		return 0, fmt.Errorf("memlog: record of %d bytes is over the limit of %d", len(rec), MaxRecord)
	}
	need := headerSize + len(rec)
	if n := len(l.chunks); n == 0 || len(l.chunks[n-1].buf)-l.chunks[n-1].used < need {
		if l.records == 0 { // the chunks left hold nothing
			l.unmapFront(n)
		}
		buf, err := mapChunk(max(l.chunkSize, need))
		if err != nil {
			return 0, fmt.Errorf("memlog: map a chunk: %w", err)
		}
		l.chunks = append(l.chunks, chunk{buf: buf})
		l.mapped += len(buf)
	}
	last := len(l.chunks) - 1
	c := &l.chunks[last]
	pos := at(l.firstSeq+uint32(last), c.used)
	binary.LittleEndian.PutUint32(c.buf[c.used:], uint32(len(rec)))
	copy(c.buf[c.used+headerSize:], rec)
	c.used += need
	if l.records == 0 {
		l.head = pos
	}
	l.records++
	return pos, nil
}

// At returns the record at pos, which Append returned and which has not
// been dropped since. A position that was never a record's panics; one
// that was dropped may read another record.
func (l *Log) At(pos Pos) []byte {
	i := int(pos.seq() - l.firstSeq)
	if pos.seq() < l.firstSeq || i >= len(l.chunks) || pos.off()+headerSize > l.chunks[i].used {
		panic(fmt.Sprintf("memlog: no record at %#x", int64(pos)))
	}
	buf := l.chunks[i].buf[pos.off():]
	n := binary.LittleEndian.Uint32(buf)
	return buf[headerSize : headerSize+n : headerSize+n]
}

// Oldest returns the oldest record and its position, or false when the log
// is empty.
func (l *Log) Oldest() (Pos, []byte, bool) {
	if l.records == 0 {
		return 0, nil, false
	}
	return l.head, l.At(l.head), true
}

// DropOldest drops the oldest record, and gives back to the system each
// chunk that no longer holds one. It does nothing when the log is empty.
func (l *Log) DropOldest() {
	if l.records == 0 {
		return
	}
	next := l.head.off() + headerSize + len(l.At(l.head))
	l.records--
	i := int(l.head.seq() - l.firstSeq)
	if next < l.chunks[i].used {
		l.head = at(l.head.seq(), next)
		return
	}
	// The head's chunk is done: drop it, unless it is the one being
	// written, which the next record goes into.
	if i < len(l.chunks)-1 {
		l.unmapFront(i + 1)
		l.head = at(l.firstSeq, 0)
	}
}

// unmapFront gives back the n oldest chunks.
func (l *Log) unmapFront(n int) {
	for i := range n {
		l.mapped -= len(l.chunks[i].buf)
		unmapChunk(l.chunks[i].buf)
		l.chunks[i] = chunk{}
	}
	l.chunks = l.chunks[n:]
	l.firstSeq += uint32(n)
}

// Len is the number of records in the log.
func (l *Log) Len() int { return l.records }

// Mapped is the memory the log holds, in bytes.
func (l *Log) Mapped() int { return l.mapped }

// Close drops every record and gives all the log's memory back. The log
// is empty, and usable, after.
func (l *Log) Close() {
	l.unmapFront(len(l.chunks))
	l.chunks = nil
	l.records = 0
}
