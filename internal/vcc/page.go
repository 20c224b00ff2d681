package vcc

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
)

// pageKeepBytes bounds what one listing keeps of the page it is reading:
// records are kept until the page ends (so that a real page, a few MB, is
// read whole and its connection let go before the consumer works on it),
// or until the bytes they were read from pass pageKeepBytes, when those
// read so far are handed on at once. A server sending a page of records as
// large as a record may be therefore costs a listing about this much, not
// the JSON cap (64 MiB) of them.
const pageKeepBytes = 8 << 20

// errStopped ends a page's decoding when the listing's consumer wants no
// more records; streamJSON passes it on unchanged, not as a failure.
var errStopped = errors.New("the consumer stopped the listing")

// pageItem is one record of a listing page, decoded as it was read: the
// record or why it cannot be used, and the id the repeat check knows it by.
type pageItem[T any] struct {
	v   T
	err error
	id  string
}

// pageReader reads the pages of one listing and yields each record not
// yielded before (seen, by id), and each record it cannot use, once (by a
// digest of its bytes, as it has no id to be known by).
//
// A page is read (read) in one or more attempts (streamJSON retries a
// body cut off): each attempt starts with attempt, hands every record to
// record as decodePage reads it, and the page ends with flush once its
// attempt succeeded. A record yielded by a failed attempt is seen, so the
// next attempt does not yield it again.
type pageReader[T any] struct {
	// decode turns a record's bytes into its value and id ("": known by
	// its bytes); keep, if set, says whether a record is the listing's
	// (a start in the window asked for): others are dropped as read.
	decode func(json.RawMessage) (T, string, error)
	keep   func(T) bool
	seen   map[string]bool
	yield  func(T, error) bool

	buf  []pageItem[T]
	kept int // bytes the records in buf were read from

	records int // records the page's latest attempt read
	fresh   int // records of the page yielded, over all its attempts
}

func newPageReader[T any](decode func(json.RawMessage) (T, string, error), yield func(T, error) bool) *pageReader[T] {
	return &pageReader[T]{decode: decode, seen: map[string]bool{}, yield: yield}
}

// read GETs one page of the listing, k, and yields its records (those of
// a page past pageKeepBytes while it streams). The page's other members go
// into meta, which reset zeroes before each attempt; itemKeys, bare and
// limit are decodePage's. It returns errStopped if the consumer wanted no
// more.
func (r *pageReader[T]) read(ctx context.Context, c *Client, k call, itemKeys []string, bare bool, limit int, meta any, reset func()) error {
	r.fresh = 0
	err := streamJSON(ctx, c, k, func(dec *json.Decoder) error {
		reset()
		r.attempt()
		return decodePage(dec, itemKeys, bare, meta, limit, r.record)
	})
	if err == nil {
		err = r.flush()
	}
	return err
}

// attempt starts reading the page again from its first record.
func (r *pageReader[T]) attempt() {
	r.drop()
	r.records = 0
}

// drop lets go of the records kept.
func (r *pageReader[T]) drop() {
	clear(r.buf)
	r.buf, r.kept = r.buf[:0], 0
}

// record is decodePage's item func.
func (r *pageReader[T]) record(raw json.RawMessage) error {
	r.records++
	v, id, err := r.decode(raw)
	if err == nil && r.keep != nil && !r.keep(v) {
		return nil
	}
	if err != nil || id == "" {
		sum := sha256.Sum256(raw)
		id = "\x00" + string(sum[:])
	}
	r.buf = append(r.buf, pageItem[T]{v: v, err: err, id: id})
	if r.kept += len(raw); r.kept > pageKeepBytes {
		return r.flush()
	}
	return nil
}

// flush yields the records kept and not seen before; errStopped if the
// consumer wants no more.
func (r *pageReader[T]) flush() error {
	defer r.drop()
	for _, it := range r.buf {
		if r.seen[it.id] {
			continue
		}
		r.seen[it.id] = true
		r.fresh++
		if !r.yield(it.v, it.err) {
			return errStopped
		}
	}
	return nil
}
