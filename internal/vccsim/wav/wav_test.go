package wav

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"testing"
)

// readAll reads a whole file from New.
func readAll(t *testing.T, size int64, rate int, seed uint64) []byte {
	t.Helper()
	b, err := io.ReadAll(New(size, rate, seed))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNew_WritesAPCMHeaderForTheSizeAndRate(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
		rate int
	}{
		{"header only", HeaderSize, 8000},
		{"one sample", HeaderSize + 1, 8000},
		{"one block", HeaderSize + blockSize, 8000},
		{"one block and a sample", HeaderSize + blockSize + 1, 8000},
		{"a few seconds", 100_000, 8000},
		{"another rate", 50_000, 16000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := readAll(t, tc.size, tc.rate, 1)
			if int64(len(b)) != tc.size {
				t.Fatalf("%d bytes, want %d", len(b), tc.size)
			}
			le := binary.LittleEndian
			for _, f := range []struct {
				field     string
				got, want any
			}{
				{"ChunkID", string(b[0:4]), "RIFF"},
				{"ChunkSize", le.Uint32(b[4:]), uint32(tc.size - 8)},
				{"Format", string(b[8:12]), "WAVE"},
				{"Subchunk1ID", string(b[12:16]), "fmt "},
				{"Subchunk1Size", le.Uint32(b[16:]), uint32(16)},
				{"AudioFormat (PCM)", le.Uint16(b[20:]), uint16(1)},
				{"NumChannels", le.Uint16(b[22:]), uint16(1)},
				{"SampleRate", le.Uint32(b[24:]), uint32(tc.rate)},
				{"ByteRate", le.Uint32(b[28:]), uint32(tc.rate)},
				{"BlockAlign", le.Uint16(b[32:]), uint16(1)},
				{"BitsPerSample", le.Uint16(b[34:]), uint16(8)},
				{"Subchunk2ID", string(b[36:40]), "data"},
				{"Subchunk2Size", le.Uint32(b[40:]), uint32(tc.size - HeaderSize)},
			} {
				if f.got != f.want {
					t.Errorf("%s = %v, want %v", f.field, f.got, f.want)
				}
			}
		})
	}
}

// The samples are a tone around the 8-bit midpoint, neither silence nor
// clipped.
func TestNew_SamplesAreAnAudibleTone(t *testing.T) {
	samples := readAll(t, HeaderSize+3*8000, 8000, 5)[HeaderSize:]
	lo, hi := samples[0], samples[0]
	for _, s := range samples {
		lo, hi = min(lo, s), max(hi, s)
	}
	// sine is 128±80; the noise adds at most 7.
	if lo < 48 || hi > 215 || hi-lo < 100 {
		t.Errorf("samples span %d..%d, want a swing of at least 100 within 48..215", lo, hi)
	}
}

func TestNew_BytesAreAFunctionOfSizeRateAndSeed(t *testing.T) {
	// Sums of the generator as it was when these were recorded: a change
	// here changes every simulated recording, and so every benchmark.
	for _, tc := range []struct {
		size int64
		rate int
		seed uint64
		sum  string
	}{
		{45, 8000, 1, "337ca484f7d44bde1e15fcc7eb62d870cedc77360db0c0a5241e0158afd74f9b"},
		{4141, 8000, 2, "c41e5cec363b6b470f3080d6b960b38ec6b90436d9faccf95d2da69d2cc53905"},
		{100_000, 8000, 3, "ccca18e8a184ff9712a7c492bc36c5a6fe3231e471a8ba27020ac209d6d55354"},
		{50_000, 3000, 7, "f95d258542fd732aff12b5355ca6c065901ade5a136ba3ee2fbafe19c647220a"},
	} {
		t.Run(fmt.Sprintf("%d/%d/%d", tc.size, tc.rate, tc.seed), func(t *testing.T) {
			sum := sha256.Sum256(readAll(t, tc.size, tc.rate, tc.seed))
			if got := hex.EncodeToString(sum[:]); got != tc.sum {
				t.Errorf("sha256 %s, want %s", got, tc.sum)
			}
		})
	}
	a, b := readAll(t, 10_000, 8000, 1), readAll(t, 10_000, 8000, 2)
	if !bytes.Equal(a[:HeaderSize], b[:HeaderSize]) || bytes.Equal(a[HeaderSize:], b[HeaderSize:]) {
		t.Error("two seeds: want the same header and different samples")
	}
}

func TestRead_SameBytesWhateverTheBufferSize(t *testing.T) {
	const size = HeaderSize + 3*blockSize + 17
	want := readAll(t, size, 8000, 9)
	for _, n := range []int{1, 7, HeaderSize - 1, HeaderSize, blockSize, blockSize + 1, 1 << 16} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r, buf := New(size, 8000, 9), make([]byte, n)
			var got []byte
			for {
				m, err := r.Read(buf)
				got = append(got, buf[:m]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("reading %d bytes at a time: %d bytes, differing from one io.ReadAll", n, len(got))
			}
		})
	}
}

// A Range request seeks and reads: the bytes must be those of the whole
// stream at the same offsets, wherever the range falls.
func TestSeek_RangeEqualsTheSameBytesOfTheFullStream(t *testing.T) {
	const size = HeaderSize + 3*blockSize + 17
	full := readAll(t, size, 8000, 11)
	r := New(size, 8000, 11) // one reader for all, as its block cache must not leak between ranges
	for _, tc := range []struct {
		name   string
		lo, hi int64
	}{
		{"first byte", 0, 1},
		{"inside the header", 4, 12},
		{"across header and samples", 40, 50},
		{"first sample", HeaderSize, HeaderSize + 1},
		{"across a block boundary", HeaderSize + blockSize - 3, HeaderSize + blockSize + 3},
		{"back to an earlier block", HeaderSize + 10, HeaderSize + 20},
		{"several blocks", 100, HeaderSize + 3*blockSize},
		{"last byte", size - 1, size},
		{"to the end", size - 100, size},
		{"whole file", 0, size},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if off, err := r.Seek(tc.lo, io.SeekStart); off != tc.lo || err != nil {
				t.Fatalf("Seek(%d) = %d, %v", tc.lo, off, err)
			}
			got := make([]byte, tc.hi-tc.lo)
			if _, err := io.ReadFull(r, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, full[tc.lo:tc.hi]) {
				t.Errorf("bytes %d-%d differ from the full stream's", tc.lo, tc.hi-1)
			}
		})
	}
	if _, err := r.Seek(size+10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("read past the end: %d, %v; want 0, EOF", n, err)
	}
}

func TestSeek_RefusesWhatRangeDoesNotNeed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset int64
		whence int
	}{
		{"negative", -1, io.SeekStart},
		{"from current", 0, io.SeekCurrent},
		{"from end", 0, io.SeekEnd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(1000, 8000, 1).Seek(tc.offset, tc.whence); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Seek(%d, %d): %v, want an error", tc.offset, tc.whence, err)
			}
		})
	}
}

func ExampleNew() {
	r := New(HeaderSize+8000, 8000, 42) // one second of audio
	b, _ := io.ReadAll(r)
	fmt.Println(len(b), string(b[0:4]), string(b[8:12]), binary.LittleEndian.Uint32(b[24:]), "Hz")
	// Output: 8044 RIFF WAVE 8000 Hz
}
