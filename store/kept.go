package store

import (
	"encoding/binary"
	"strings"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
)

// keptAnswer is a stored answer that a database in memory keeps in its
// index, packed with the (account, key) that a row would hold into one
// string: one allocation per answer, which the garbage collector marks
// without reading (a string holds no pointers), however many answers live.
// (As a struct with its strings, header map and body it was six objects
// to allocate and to scan at every collection, and the collector's share
// of a keyed request's CPU grew with them.)
//
// The layout: the account's 16 bytes; the key, request id and fingerprint,
// each a uvarint length and its bytes; the status (uvarint); the stored
// and expiry times (varint microseconds, as a row stores them); the number
// of headers (uvarint), then each header's name and value, as the strings
// before; the rest is the body.
type keptAnswer string

func keepAnswer(account uuid.UUID, key string, r *sentstub.IdempotentResponse) keptAnswer {
	n := len(account) + 3*binary.MaxVarintLen64 + len(key) + len(r.RequestID) + len(r.Fingerprint) +
		4*binary.MaxVarintLen64 + len(r.Body)
	for name, value := range r.Headers {
		n += 2*binary.MaxVarintLen64 + len(name) + len(value)
	}
	var b strings.Builder
	b.Grow(n)
	b.Write(account[:])
	putString(&b, key)
	putString(&b, r.RequestID)
	putString(&b, r.Fingerprint)
	putUvarint(&b, uint64(r.Status))
	putVarint(&b, r.StoredAt.UnixMicro())
	putVarint(&b, r.ExpiresAt.UnixMicro())
	putUvarint(&b, uint64(len(r.Headers)))
	for name, value := range r.Headers {
		putString(&b, name)
		putString(&b, value)
	}
	b.Write(r.Body)
	return keptAnswer(b.String())
}

func putUvarint(b *strings.Builder, v uint64) {
	var buf [binary.MaxVarintLen64]byte
	b.Write(binary.AppendUvarint(buf[:0], v))
}

func putVarint(b *strings.Builder, v int64) {
	var buf [binary.MaxVarintLen64]byte
	b.Write(binary.AppendVarint(buf[:0], v))
}

func putString(b *strings.Builder, s string) {
	putUvarint(b, uint64(len(s)))
	b.WriteString(s)
}

func (k keptAnswer) account() uuid.UUID { return uuid.UUID([]byte(k[:16])) }

// of returns the answer if it is (account, key)'s, and nil otherwise, as
// scanIdempotentResponse does for a row. Its strings share the kept
// string's bytes (strings do not change); its headers and body are the
// caller's.
func (k keptAnswer) of(account uuid.UUID, key string) *sentstub.IdempotentResponse {
	if string(k[:16]) != string(account[:]) {
		return nil
	}
	d := keptDecoder{s: string(k), at: 16}
	if d.string() != key {
		return nil
	}
	r := &sentstub.IdempotentResponse{RequestID: d.string(), Fingerprint: d.string(), Status: int(d.uvarint())}
	r.StoredAt = microsToTime(d.varint())
	r.ExpiresAt = microsToTime(d.varint())
	n := d.uvarint()
	r.Headers = make(map[string]string, n)
	for range n {
		name := d.string()
		r.Headers[name] = d.string()
	}
	r.Body = append([]byte{}, d.s[d.at:]...)
	return r
}

// keptDecoder reads a keptAnswer that keepAnswer wrote: it trusts it.
type keptDecoder struct {
	s  string
	at int
}

func (d *keptDecoder) uvarint() uint64 {
	var v uint64
	for shift := 0; ; shift += 7 {
		c := d.s[d.at]
		d.at++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
}

func (d *keptDecoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *keptDecoder) string() string {
	n := int(d.uvarint())
	s := d.s[d.at : d.at+n]
	d.at += n
	return s
}
