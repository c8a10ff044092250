// Package inputs makes the deterministic test inputs shared with the TypeScript tests
// (test/unit/chunker/inputs.ts implements the same generators byte for byte).
package inputs

import (
	"fmt"
	"math/rand"
)

// Spec describes an input; it is recorded in the vectors as is.
type Spec struct {
	Kind   string `json:"kind"` // xorshift | text | gorand | zeros | byte
	Seed   int64  `json:"seed,omitempty"`
	Value  int    `json:"value,omitempty"`
	Length int    `json:"length"`
}

// XorShift is Marsaglia's xorshift128 (2003) on 32-bit words, seeded in x.
type XorShift struct{ x, y, z, w uint32 }

func NewXorShift(seed uint32) *XorShift {
	return &XorShift{x: seed, y: 362436069, z: 521288629, w: 88675123}
}

func (r *XorShift) Next() uint32 {
	t := r.x ^ (r.x << 11)
	r.x, r.y, r.z = r.y, r.z, r.w
	r.w = r.w ^ (r.w >> 19) ^ (t ^ (t >> 8))
	return r.w
}

// Read fills p with the little-endian bytes of successive words (an io.Reader).
type XorShiftReader struct {
	r    *XorShift
	buf  [4]byte
	have int
}

func NewXorShiftReader(seed uint32) *XorShiftReader { return &XorShiftReader{r: NewXorShift(seed)} }

func (x *XorShiftReader) Read(p []byte) (int, error) {
	for i := range p {
		if x.have == 0 {
			w := x.r.Next()
			x.buf = [4]byte{byte(w), byte(w >> 8), byte(w >> 16), byte(w >> 24)}
			x.have = 4
		}
		p[i] = x.buf[4-x.have]
		x.have--
	}
	return len(p), nil
}

// Words is the vocabulary of Text.
var Words = []string{
	"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
	"restic", "backup", "chunk", "rabin", "polynomial", "repository", "snapshot", "index",
	"pack", "blob", "tree", "data", "error", "warning", "info", "debug",
	"GET", "POST", "/api/v1/items", "200", "404", "500", "user", "session",
}

// Text makes log-like lines: "%08d" line number, 4..11 words from a 32-word list, "\n".
func Text(seed uint32, length int) []byte {
	r := NewXorShift(seed)
	out := make([]byte, 0, length+128)
	for line := 0; len(out) < length; line++ {
		out = append(out, fmt.Sprintf("%08d", line)...)
		n := 4 + int(r.Next()%8)
		for j := 0; j < n; j++ {
			out = append(out, ' ')
			out = append(out, Words[r.Next()%32]...)
		}
		out = append(out, '\n')
	}
	return out[:length]
}

// GoRand is chunker_test.go's getRandom: math/rand seeded, Uint32 little-endian.
func GoRand(seed int64, length int) []byte {
	buf := make([]byte, length)
	rnd := rand.New(rand.NewSource(seed))
	for i := 0; i < length; i += 4 {
		r := rnd.Uint32()
		buf[i] = byte(r)
		buf[i+1] = byte(r >> 8)
		buf[i+2] = byte(r >> 16)
		buf[i+3] = byte(r >> 24)
	}
	return buf
}

// GoRandPrefix returns the first 607 outputs of math/rand's source for seed: from them the
// rest follows by x[n] = x[n-607] + x[n-273] (mod 2^64), and Uint32 is bits 31..62 of x[n].
func GoRandPrefix(seed int64) []uint64 {
	src := rand.NewSource(seed).(rand.Source64)
	out := make([]uint64, 607)
	for i := range out {
		out[i] = src.Uint64()
	}
	return out
}

// Make builds the bytes of an input.
func Make(s Spec) []byte {
	switch s.Kind {
	case "xorshift":
		b := make([]byte, s.Length)
		NewXorShiftReader(uint32(s.Seed)).Read(b)
		return b
	case "text":
		return Text(uint32(s.Seed), s.Length)
	case "gorand":
		return GoRand(s.Seed, s.Length)
	case "zeros":
		return make([]byte, s.Length)
	case "byte":
		b := make([]byte, s.Length)
		for i := range b {
			b[i] = byte(s.Value)
		}
		return b
	}
	panic("unknown input kind " + s.Kind)
}
