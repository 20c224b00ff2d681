package blobstore

import (
	"bytes"
	"encoding/binary"
	"time"
)

// headSize is how much of an object's start is kept to read its media header.
const headSize = 512

// head keeps the first headSize bytes written through it.
type head struct {
	buf []byte
}

func (h *head) Write(p []byte) (int, error) {
	if room := headSize - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// wavDuration reads the play time of a RIFF/WAVE file of total size bytes
// from its first bytes: the data chunk's length (what follows its header,
// bounded by the file) divided by the fmt chunk's byte rate. ok is false for
// anything that is not a WAV file with a readable header.
func wavDuration(hd []byte, size int64) (d time.Duration, ok bool) {
	if len(hd) < 12 || !bytes.Equal(hd[0:4], []byte("RIFF")) || !bytes.Equal(hd[8:12], []byte("WAVE")) {
		return 0, false
	}
	var byteRate uint32
	for off := 12; off+8 <= len(hd); {
		id, n := string(hd[off:off+4]), int64(binary.LittleEndian.Uint32(hd[off+4:off+8]))
		body := off + 8
		switch id {
		case "fmt ":
			if body+12 > len(hd) {
				return 0, false
			}
			byteRate = binary.LittleEndian.Uint32(hd[body+8 : body+12])
		case "data":
			if byteRate == 0 {
				return 0, false
			}
			data := min(n, size-int64(body))
			if data < 0 {
				return 0, false
			}
			return time.Duration(float64(data) / float64(byteRate) * float64(time.Second)).Round(time.Millisecond), true
		}
		off = body + int(n) + int(n&1) // chunks are word-aligned
	}
	return 0, false
}
