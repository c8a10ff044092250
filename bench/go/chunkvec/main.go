// chunkvec runs restic's chunker (restic/chunker v0.4.0) and polynomial code on deterministic
// inputs and prints the results as JSON: the test vectors in fixtures/chunker/vectors.json.
// It also lifts the vectors published in restic/chunker's chunker_test.go out of that file.
//
//	GOFLAGS=-mod=mod GOPROXY=off go run ./chunkvec -published .../chunker_test.go > vectors.json
//	chunkvec -in FILE [-pol HEX -min N -max N -bits N]   # the chunks of one file, as JSON
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/restic/chunker"
	"restic-ts/bench/go/inputs"
)

const (
	kiB     = 1024
	miB     = 1024 * kiB
	testPol = chunker.Pol(0x3DA3358B4DC173)
)

type Case struct {
	Name        string      `json:"name"`
	Input       inputs.Spec `json:"input"`
	Pol         string      `json:"pol"`
	MinSize     uint        `json:"minSize"`
	MaxSize     uint        `json:"maxSize"`
	AverageBits int         `json:"averageBits"`
	// Chunks: [start, length, cut fingerprint (hex), sha256 of the chunk (hex)]
	Chunks [][4]interface{} `json:"chunks"`
}

type Published struct {
	Source string                      `json:"source"`
	Note   string                      `json:"note"`
	Lists  map[string][][3]interface{} `json:"lists"` // name -> [length, cut (hex), sha256]
}

func hexPol(p chunker.Pol) string { return strconv.FormatUint(uint64(p), 16) }

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func runCase(c *Case, data []byte, pol chunker.Pol) {
	ch := chunker.NewWithBoundaries(bytes.NewReader(data), pol, c.MinSize, c.MaxSize)
	ch.SetAverageBits(c.AverageBits)
	c.Pol = hexPol(pol)
	c.Chunks = [][4]interface{}{}
	buf := make([]byte, c.MaxSize)
	for {
		k, err := ch.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		c.Chunks = append(c.Chunks, [4]interface{}{k.Start, k.Length, strconv.FormatUint(k.Cut, 16), sum(k.Data)})
	}
}

// irreducibleOfDegree returns the first irreducible polynomial of degree d (bits d and 0 set,
// the others from a xorshift stream), by restic's own test.
func irreducibleOfDegree(d int, seed uint32) chunker.Pol {
	r := inputs.NewXorShift(seed)
	for {
		v := uint64(r.Next())<<32 | uint64(r.Next())
		p := chunker.Pol(v&(1<<uint(d)-1) | 1<<uint(d) | 1)
		if p.Irreducible() {
			return p
		}
	}
}

func parsePublished(path string) Published {
	src, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	lists := map[string][][3]interface{}{}
	listRe := regexp.MustCompile(`(?s)var (chunks\d+) = \[\]chunk\{(.*?)\n\}`)
	itemRe := regexp.MustCompile(`\{(\d+|MinSize), (0x[0-9a-f]+|0), parseDigest\("([0-9a-f]{64})"\)\}`)
	for _, m := range listRe.FindAllSubmatch(src, -1) {
		var items [][3]interface{}
		for _, it := range itemRe.FindAllSubmatch(m[2], -1) {
			length := uint64(chunker.MinSize)
			if string(it[1]) != "MinSize" {
				length, _ = strconv.ParseUint(string(it[1]), 10, 64)
			}
			cut, err := strconv.ParseUint(string(bytes.TrimPrefix(it[2], []byte("0x"))), 16, 64)
			if err != nil {
				panic(err)
			}
			items = append(items, [3]interface{}{length, strconv.FormatUint(cut, 16), string(it[3])})
		}
		lists[string(m[1])] = items
	}
	return Published{
		Source: "restic/chunker v0.4.0 chunker_test.go (Debian golang-github-restic-chunker-dev 0.4.0-2)",
		Note: "chunks1: gorand seed 23, 32 MiB, pol 3da3358b4dc173, defaults; chunks2: 4*MinSize zero " +
			"bytes; chunks3: as chunks1 with averageBits 19",
		Lists: lists,
	}
}

func main() {
	published := flag.String("published", "/usr/share/gocode/src/github.com/restic/chunker/chunker_test.go", "chunker_test.go to lift the published vectors from")
	in := flag.String("in", "", "instead: chunk this one file and print its chunks as JSON")
	polFlag := flag.String("pol", hexPol(testPol), "with -in: polynomial (hex)")
	minFlag := flag.Uint("min", chunker.MinSize, "with -in: MinSize")
	maxFlag := flag.Uint("max", chunker.MaxSize, "with -in: MaxSize")
	bitsFlag := flag.Int("bits", 20, "with -in: average bits")
	flag.Parse()
	if *in != "" {
		data, err := os.ReadFile(*in)
		if err != nil {
			panic(err)
		}
		pol, err := strconv.ParseUint(*polFlag, 16, 64)
		if err != nil {
			panic(err)
		}
		c := Case{Name: *in, MinSize: *minFlag, MaxSize: *maxFlag, AverageBits: *bitsFlag}
		runCase(&c, data, chunker.Pol(pol))
		if err := json.NewEncoder(os.Stdout).Encode(c.Chunks); err != nil {
			panic(err)
		}
		return
	}

	derived := []map[string]interface{}{}
	derivedPols := []chunker.Pol{}
	for seed := uint32(1); seed <= 12; seed++ {
		p, err := chunker.DerivePolynomial(inputs.NewXorShiftReader(seed))
		if err != nil {
			panic(err)
		}
		derived = append(derived, map[string]interface{}{"xorshiftSeed": seed, "pol": hexPol(p)})
		derivedPols = append(derivedPols, p)
	}

	def := func(name string, in inputs.Spec, pol chunker.Pol) Case {
		return Case{Name: name, Input: in, Pol: hexPol(pol), MinSize: chunker.MinSize, MaxSize: chunker.MaxSize, AverageBits: 20}
	}
	small := func(name string, in inputs.Spec, pol chunker.Pol, min, max uint, bits int) Case {
		return Case{Name: name, Input: in, Pol: hexPol(pol), MinSize: min, MaxSize: max, AverageBits: bits}
	}
	gorand := inputs.Spec{Kind: "gorand", Seed: 23, Length: 32 * miB}
	rnd := func(seed int64, n int) inputs.Spec { return inputs.Spec{Kind: "xorshift", Seed: seed, Length: n} }
	text := func(seed int64, n int) inputs.Spec { return inputs.Spec{Kind: "text", Seed: seed, Length: n} }

	cases := []Case{
		def("published chunks1: gorand 23, testPol, defaults", gorand, testPol),
		small("published chunks3: gorand 23, testPol, averageBits 19", gorand, testPol, chunker.MinSize, chunker.MaxSize, 19),
		def("published chunks2: 4*MinSize zeros", inputs.Spec{Kind: "zeros", Length: 4 * chunker.MinSize}, testPol),
		def("random 24 MiB, testPol", rnd(1, 24*miB), testPol),
		def("random 24 MiB, pol 2482734cacca49", rnd(1, 24*miB), 0x2482734cacca49),
		def("random 24 MiB, derived pol 1", rnd(1, 24*miB), derivedPols[0]),
		def("random 16 MiB seed 5, derived pol 2", rnd(5, 16*miB), derivedPols[1]),
		def("text 24 MiB, testPol", text(2, 24*miB), testPol),
		def("text 16 MiB, derived pol 3", text(3, 16*miB), derivedPols[2]),
		def("zeros 20 MiB", inputs.Spec{Kind: "zeros", Length: 20 * miB}, testPol),
		def("0x55 bytes 20 MiB: MaxSize runs", inputs.Spec{Kind: "byte", Value: 0x55, Length: 20 * miB}, testPol),
		def("0xff bytes exactly 2*MaxSize", inputs.Spec{Kind: "byte", Value: 0xff, Length: 2 * chunker.MaxSize}, derivedPols[3]),
		def("empty", rnd(9, 0), testPol),
		def("1 byte", rnd(9, 1), testPol),
		def("100 KiB (shorter than MinSize)", rnd(9, 100*kiB), testPol),
		def("MinSize-64 bytes", rnd(9, chunker.MinSize-64), testPol),
		def("MinSize-63 bytes", rnd(9, chunker.MinSize-63), testPol),
		def("exactly MinSize", rnd(9, chunker.MinSize), testPol),
		def("MinSize+1", rnd(9, chunker.MinSize+1), testPol),
		small("small sizes: random 2 MiB, 1K..8K, 12 bits", rnd(10, 2*miB), testPol, 1*kiB, 8*kiB, 12),
		small("small sizes: random 256 KiB, 64..4K, 10 bits", rnd(11, 256*kiB), derivedPols[4], 64, 4*kiB, 10),
		small("small sizes: random 32 KiB, 64..64, 10 bits", rnd(12, 32*kiB), testPol, 64, 64, 10),
		small("small sizes: random 50000 bytes, 100..3000, 0 bits", rnd(13, 50000), testPol, 100, 3000, 0),
		small("small sizes: random 1 MiB, 4K..16K, 64 bits", rnd(14, 1*miB), testPol, 4*kiB, 16*kiB, 64),
		small("small sizes: text 1 MiB, 512..16K, 11 bits", text(15, 1*miB), derivedPols[5], 512, 16*kiB, 11),
		small("small sizes: zeros 20000 bytes, 200..1000, 8 bits", inputs.Spec{Kind: "zeros", Length: 20000}, testPol, 200, 1000, 8),
		small("reducible degree-53 pol", rnd(16, 1*miB), 0x3DA3358B4DC171, 4*kiB, 64*kiB, 14),
	}
	for _, d := range []int{8, 9, 17, 31, 39, 40, 41, 45, 47, 52, 53} {
		p := irreducibleOfDegree(d, uint32(100+d))
		cases = append(cases, small(fmt.Sprintf("degree %d pol", d), rnd(int64(200+d), 1*miB), p, 2*kiB, 48*kiB, 14))
	}
	inputSums := map[string]string{}
	for i := range cases {
		c := &cases[i]
		pol, err := strconv.ParseUint(c.Pol, 16, 64)
		if err != nil {
			panic(err)
		}
		data := inputs.Make(c.Input)
		key := fmt.Sprintf("%s/%d/%d/%d", c.Input.Kind, c.Input.Seed, c.Input.Value, c.Input.Length)
		inputSums[key] = sum(data)
		runCase(c, data, chunker.Pol(pol))
	}

	// Polynomial arithmetic on random values, answered by restic's code.
	r := inputs.NewXorShift(77)
	r64 := func() uint64 { return uint64(r.Next())<<32 | uint64(r.Next()) }
	irred := [][2]interface{}{}
	for i := 0; i < 300; i++ {
		p := chunker.Pol(r64()&(1<<54-1) | 1<<53 | 1)
		irred = append(irred, [2]interface{}{hexPol(p), p.Irreducible()})
	}
	for i := 0; i < 200; i++ {
		d := 1 + int(r.Next()%63)
		p := chunker.Pol(r64()&(1<<uint(d)-1) | 1<<uint(d))
		irred = append(irred, [2]interface{}{hexPol(p), p.Irreducible()})
	}
	arith := []map[string]string{}
	for i := 0; i < 100; i++ {
		x := chunker.Pol(r64() >> (r.Next() % 64))
		y := chunker.Pol(r64()>>(r.Next()%64) | 1)
		q, m := x.DivMod(y)
		// MulMod doubles its first factor before reducing it: keep degrees below 63.
		g := chunker.Pol(r64()>>(2+r.Next()%60) | 1)
		a := chunker.Pol(r64() >> (1 + r.Next()%63))
		b := chunker.Pol(r64() >> (r.Next() % 64))
		arith = append(arith, map[string]string{
			"x": hexPol(x), "y": hexPol(y), "div": hexPol(q), "mod": hexPol(m), "gcd": hexPol(x.GCD(y)),
			"a": hexPol(a), "b": hexPol(b), "g": hexPol(g), "mulmod": hexPol(a.MulMod(b, g)),
		})
	}

	prefix := inputs.GoRandPrefix(23)
	prefixHex := make([]string, len(prefix))
	for i, v := range prefix {
		prefixHex[i] = strconv.FormatUint(v, 16)
	}

	// Hand-assembled so that every chunk (and every polynomial) is one line in the file.
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	m := func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	lines := func(items []string) string {
		if len(items) == 0 {
			return "[]"
		}
		return "[\n    " + strings.Join(items, ",\n    ") + "\n  ]"
	}
	fmt.Fprintf(w, "{\n  \"origin\": %s,\n", m("made by bench/go/chunkvec (fixtures/chunker/make-vectors.sh) with restic/chunker v0.4.0 "+
		"(Debian golang-github-restic-chunker-dev 0.4.0-2), "+runtime.Version()))
	fmt.Fprintf(w, "  \"inputs\": %s,\n", m(map[string]interface{}{
		"about": "xorshift: Marsaglia xorshift128 words (x=seed, y=362436069, z=521288629, w=88675123), " +
			"little-endian; text: per line %08d number, 4+(next%8) words words[next%32] each after a space, " +
			"newline; gorand: chunker_test.go getRandom (math/rand); zeros; byte: value repeated",
		"words":          strings.Join(inputs.Words, " "),
		"gorand23Prefix": prefixHex,
		"sha256":         inputSums,
	}))
	pub := parsePublished(*published)
	var pubLists []string
	for _, name := range []string{"chunks1", "chunks2", "chunks3"} {
		var items []string
		for _, it := range pub.Lists[name] {
			items = append(items, m(it))
		}
		pubLists = append(pubLists, fmt.Sprintf("%q: %s", name, strings.ReplaceAll(lines(items), "\n", "\n  ")))
	}
	fmt.Fprintf(w, "  \"published\": {\n    \"source\": %s,\n    \"note\": %s,\n    \"lists\": {\n    %s\n    }\n  },\n",
		m(pub.Source), m(pub.Note), strings.Join(pubLists, ",\n    "))
	var caseLines []string
	for _, c := range cases {
		var items []string
		for _, k := range c.Chunks {
			items = append(items, m(k))
		}
		chunks := "[]"
		if len(items) > 0 {
			chunks = "[\n      " + strings.Join(items, ",\n      ") + "\n    ]"
		}
		caseLines = append(caseLines, fmt.Sprintf(`{"name": %s, "input": %s, "pol": %q, "minSize": %d, "maxSize": %d, "averageBits": %d, "chunks": %s}`,
			m(c.Name), m(c.Input), c.Pol, c.MinSize, c.MaxSize, c.AverageBits, chunks))
	}
	fmt.Fprintf(w, "  \"cases\": %s,\n", lines(caseLines))
	var dl, il, al []string
	for _, d := range derived {
		dl = append(dl, m(d))
	}
	for _, x := range irred {
		il = append(il, m(x))
	}
	for _, x := range arith {
		al = append(al, m(x))
	}
	fmt.Fprintf(w, "  \"derived\": %s,\n  \"irreducible\": %s,\n  \"arithmetic\": %s\n}\n", lines(dl), lines(il), lines(al))
}
