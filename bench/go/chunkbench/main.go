// chunkbench times restic's chunker (restic/chunker v0.4.0) on files, as bench/chunker.ts
// does with ours, and prints one JSON line per run.
//
//	chunkbench [-runs N] [-mode mem|file] [-pol hex] file...
//
// mem: the file is read into memory first and chunked from a bytes.Reader (not timed);
// file: chunked straight from the open file. Either way chunks are copied into one reused
// MaxSize buffer, as restic's archiver does.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/restic/chunker"
)

type result struct {
	File    string  `json:"file"`
	Mode    string  `json:"mode"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MBps    float64 `json:"mbps"`
	// CPU time of the process (all threads) during the run, and MB/s by it
	CPUSeconds float64 `json:"cpuSeconds"`
	CPUMBps    float64 `json:"cpuMbps"`
	Chunks     int     `json:"chunks"`
	// sha256 over the chunk end offsets as little-endian uint64s, to compare cut points
	Ends string `json:"ends"`
}

func run(rd io.Reader, pol chunker.Pol, buf []byte) (int, int64, string, error) {
	ch := chunker.New(rd, pol)
	h := sha256.New()
	var n int
	var total int64
	var b [8]byte
	for {
		c, err := ch.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, "", err
		}
		n++
		total += int64(c.Length)
		binary.LittleEndian.PutUint64(b[:], uint64(c.Start+c.Length))
		h.Write(b[:])
	}
	return n, total, hex.EncodeToString(h.Sum(nil)), nil
}

// cpuTime is the user+system CPU time of this process so far, in seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func main() {
	runs := flag.Int("runs", 1, "runs per file")
	mode := flag.String("mode", "mem", "mem or file")
	polHex := flag.String("pol", "3da3358b4dc173", "chunker polynomial (hex)")
	flag.Parse()
	p, err := strconv.ParseUint(*polHex, 16, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	pol := chunker.Pol(p)
	buf := make([]byte, chunker.MaxSize)
	enc := json.NewEncoder(os.Stdout)
	for _, name := range flag.Args() {
		var data []byte
		if *mode == "mem" {
			if data, err = os.ReadFile(name); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		for r := 0; r < *runs; r++ {
			var rd io.Reader
			var f *os.File
			if *mode == "mem" {
				rd = bytes.NewReader(data)
			} else {
				if f, err = os.Open(name); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				rd = f
			}
			cpu0 := cpuTime()
			start := time.Now()
			n, total, ends, err := run(rd, pol, buf)
			secs := time.Since(start).Seconds()
			cpu := cpuTime() - cpu0
			if f != nil {
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			enc.Encode(result{File: name, Mode: *mode, Bytes: total, Seconds: secs,
				MBps: float64(total) / 1e6 / secs, CPUSeconds: cpu, CPUMBps: float64(total) / 1e6 / cpu,
				Chunks: n, Ends: ends})
		}
	}
}
