//go:build unix

package memlog

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapChunk maps at least size bytes of private anonymous memory, whole
// pages, which the system zeroes as they are first touched.
func mapChunk(size int) ([]byte, error) {
	page := os.Getpagesize()
	size = (size + page - 1) / page * page
	return unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_POPULATE)
}

func unmapChunk(buf []byte) {
	// It fails only for memory that mapChunk did not map.
	if err := unix.Munmap(buf); err != nil {
		panic("memlog: " + err.Error())
	}
}
