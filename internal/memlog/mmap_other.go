//go:build !unix

package memlog

// mapChunk falls back to the Go heap where there is no mmap.
func mapChunk(size int) ([]byte, error) { return make([]byte, size), nil }

func unmapChunk([]byte) {}
