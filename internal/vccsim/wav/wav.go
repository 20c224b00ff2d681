// Package wav generates playable WAV recordings of any size from a seed,
// byte by byte as they are read, so that a Range request or a 1 GiB
// recording costs no memory.
package wav

import (
	"encoding/binary"
	"io"
	"math"
)

// HeaderSize is the size of the RIFF header that starts every file; the
// audio samples follow it.
const HeaderSize = 44

// blockSize is how many samples are generated at once.
const blockSize = 4096

// sine is one period of a sine wave as unsigned 8-bit PCM around 128.
var sine = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(128 + 80*math.Sin(2*math.Pi*float64(i)/256))
	}
	return t
}()

// Reader produces a playable 8-bit mono PCM WAV file of a given size,
// generated on the fly from a seed: a tone that changes pitch every second
// with a little noise. Any byte range can be produced without producing what
// comes before it.
type Reader struct {
	size, off int64
	rate      int64
	seed      uint64
	header    [HeaderSize]byte
	buf       [blockSize]byte
	bufBlock  int64 // index of the data block in buf, -1 for none
}

// New returns a Reader of a size-byte WAV file (size at least HeaderSize)
// with rate samples, and so bytes, per second. The same size, rate and seed
// give the same bytes.
func New(size int64, rate int, seed uint64) *Reader {
	w := &Reader{size: size, rate: int64(rate), seed: seed, bufBlock: -1}
	h := w.header[:]
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(size-8))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate)) // byte rate
	binary.LittleEndian.PutUint16(h[32:], 1)            // block align
	binary.LittleEndian.PutUint16(h[34:], 8)            // bits per sample
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(size-HeaderSize))
	return w
}

// Read implements io.Reader.
func (w *Reader) Read(p []byte) (int, error) {
	if w.off >= w.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && w.off < w.size {
		var m int
		if w.off < HeaderSize {
			m = copy(p[n:], w.header[w.off:])
		} else {
			d := w.off - HeaderSize
			block := d / blockSize
			if block != w.bufBlock {
				w.fill(block)
			}
			end := min(int64(blockSize), w.size-HeaderSize-block*blockSize)
			m = copy(p[n:], w.buf[d%blockSize:end])
		}
		n += m
		w.off += int64(m)
	}
	return n, nil
}

// Seek supports io.SeekStart only, which is all Range needs.
func (w *Reader) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekStart || offset < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	w.off = offset
	return offset, nil
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (w *Reader) fill(block int64) {
	w.bufBlock = block
	noise := splitmix(w.seed ^ uint64(block)*0x2545f4914f6cdd1d)
	s := block * blockSize // sample index of buf[0]
	var step uint32
	segEnd := int64(-1)
	var segStart int64
	for i := range w.buf {
		if s >= segEnd {
			sec := s / w.rate
			segStart, segEnd = sec*w.rate, (sec+1)*w.rate
			f := 180 + splitmix(w.seed+uint64(sec))%520 // Hz
			step = uint32((f << 32) / uint64(w.rate))
		}
		if i%8 == 0 {
			noise ^= noise << 13
			noise ^= noise >> 7
			noise ^= noise << 17
		}
		phase := uint32(s-segStart) * step
		w.buf[i] = sine[phase>>24] + byte(noise>>(8*(i%8)))&7
		s++
	}
}
