package store

import (
	"encoding/binary"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
)

// A kept answer is a stored answer that a database in memory keeps in its
// memlog.Log instead of a row of idempotency_answers: one record, packed
// with the (account, key) that a row would hold, which the garbage
// collector neither counts nor marks however many answers live. (As one
// string per answer on the Go heap, each kept answer raised the heap goal
// by GOGC's four times its size, fresh memory that the process faulted in
// and zeroed: 3.6 KB of RSS per keyed request, and about 8% of its CPU
// under load. As a struct with its strings, header map and body it was six
// objects to allocate and to scan at every collection.)
//
// The layout: the account's 16 bytes; the key, request id and fingerprint,
// each a uvarint length and its bytes; the status (uvarint); the stored
// and expiry times (varint microseconds, as a row stores them); the number
// of headers (uvarint), then each header's name and value, as the strings
// before; the rest is the body.

// appendKept appends the kept answer of (account, key) to dst.
func appendKept(dst []byte, account uuid.UUID, key string, r *sentstub.IdempotentResponse) []byte {
	dst = append(dst, account[:]...)
	dst = appendString(dst, key)
	dst = appendString(dst, r.RequestID)
	dst = appendString(dst, r.Fingerprint)
	dst = binary.AppendUvarint(dst, uint64(r.Status))
	dst = binary.AppendVarint(dst, r.StoredAt.UnixMicro())
	dst = binary.AppendVarint(dst, r.ExpiresAt.UnixMicro())
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for name, value := range r.Headers {
		dst = appendString(dst, name)
		dst = appendString(dst, value)
	}
	return append(dst, r.Body...)
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// keptAccount is the account whose answer rec is.
func keptAccount(rec []byte) uuid.UUID { return uuid.UUID(rec[:16]) }

// keptSlot returns the index key of the answer rec, and when it expires,
// in microseconds since the epoch.
func keptSlot(rec []byte) (answerKey, int64) {
	d := keptDecoder{b: rec, at: 16}
	key := d.bytes()
	d.bytes() // request id
	d.bytes() // fingerprint
	d.uvarint()
	d.varint()
	return answerKeyOf(keptAccount(rec), string(key)), d.varint()
}

// keptResponse returns the answer in rec if it is (account, key)'s, and
// nil otherwise, as scanIdempotentResponse does for a row. It copies what
// it returns: rec is the log's memory, which a sweep gives back.
func keptResponse(rec []byte, account uuid.UUID, key string) *sentstub.IdempotentResponse {
	if string(rec[:16]) != string(account[:]) {
		return nil
	}
	d := keptDecoder{b: rec, at: 16}
	if string(d.bytes()) != key {
		return nil
	}
	r := &sentstub.IdempotentResponse{RequestID: string(d.bytes()), Fingerprint: string(d.bytes()), Status: int(d.uvarint())}
	r.StoredAt = microsToTime(d.varint())
	r.ExpiresAt = microsToTime(d.varint())
	n := d.uvarint()
	r.Headers = make(map[string]string, n)
	for range n {
		name := string(d.bytes())
		r.Headers[name] = string(d.bytes())
	}
	r.Body = append([]byte{}, d.b[d.at:]...)
	return r
}

// keptDecoder reads a kept answer that appendKept wrote: it trusts it.
type keptDecoder struct {
	b  []byte
	at int
}

func (d *keptDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b[d.at:])
	d.at += n
	return v
}

func (d *keptDecoder) varint() int64 {
	v, n := binary.Varint(d.b[d.at:])
	d.at += n
	return v
}

// bytes returns the next string's bytes, which alias the record.
func (d *keptDecoder) bytes() []byte {
	n := int(d.uvarint())
	b := d.b[d.at : d.at+n]
	d.at += n
	return b
}
