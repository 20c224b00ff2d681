package blobstore

import (
	"encoding/binary"
	"testing"
	"time"
)

func wavHeader(chunks ...[]byte) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVE")
	for _, c := range chunks {
		b = append(b, c...)
	}
	return b
}

func chunk(id string, size uint32, body []byte) []byte {
	c := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(c[4:], size)
	return append(c, body...)
}

func fmtChunk(byteRate uint32) []byte {
	body := make([]byte, 16)
	binary.LittleEndian.PutUint16(body[0:], 1)
	binary.LittleEndian.PutUint16(body[2:], 1)
	binary.LittleEndian.PutUint32(body[4:], byteRate)
	binary.LittleEndian.PutUint32(body[8:], byteRate)
	return chunk("fmt ", 16, body)
}

func TestWAVDuration(t *testing.T) {
	plain := wavHeader(fmtChunk(8000), chunk("data", 16000, nil))
	withList := wavHeader(fmtChunk(16000), chunk("LIST", 3, []byte("abc\x00")), chunk("data", 32000, nil))
	for _, tc := range []struct {
		name string
		hd   []byte
		size int64
		want time.Duration
		ok   bool
	}{
		{"8 kHz 8-bit, 2 s", plain, int64(len(plain)) + 16000, 2 * time.Second, true},
		{"a LIST chunk (odd size) before data", withList, int64(len(withList)) + 32000, 2 * time.Second, true},
		{"data length bounded by the file (streamed, size unknown in header)", wavHeader(fmtChunk(8000), chunk("data", 0xFFFFFFFF, nil)), 44 + 4000, 500 * time.Millisecond, true},
		{"not RIFF", []byte("ID3\x04 mp3 data......"), 100, 0, false},
		{"no fmt before data", wavHeader(chunk("data", 10, nil)), 54, 0, false},
		{"truncated", plain[:20], 1000, 0, false},
	} {
		d, ok := wavDuration(tc.hd, tc.size)
		if d != tc.want || ok != tc.ok {
			t.Errorf("%s: %v %v, want %v %v", tc.name, d, ok, tc.want, tc.ok)
		}
	}
}
