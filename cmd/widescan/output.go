package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/p2pnet/widescan/widescan"
)

// hitRecord is one line of output. Field names follow ZMap's and XMap's
// (saddr is the responder, daddr the probed target).
type hitRecord struct {
	Saddr     string  `json:"saddr"`
	Daddr     string  `json:"daddr"`
	Hlim      uint8   `json:"hlim"`
	RTTus     float64 `json:"rtt_us"`
	Timestamp string  `json:"timestamp"`
}

var csvHeader = []string{"saddr", "daddr", "hlim", "rtt_us", "timestamp"}

func record(h widescan.Hit) hitRecord {
	return hitRecord{
		Saddr:     h.Responder.String(),
		Daddr:     h.Target.String(),
		Hlim:      h.HopLimit,
		RTTus:     float64(h.RTT.Nanoseconds()) / 1e3,
		Timestamp: h.Time.UTC().Format(time.RFC3339Nano),
	}
}

// hitWriter writes hits as JSON lines or CSV. Write may be called from the
// scanner's hit goroutine while Flush runs from another.
type hitWriter struct {
	mu  sync.Mutex
	buf *bufio.Writer
	enc *json.Encoder
	csv *csv.Writer
	err error
}

func newHitWriter(w io.Writer, format string) (*hitWriter, error) {
	hw := &hitWriter{buf: bufio.NewWriterSize(w, 64<<10)}
	switch format {
	case "jsonl":
		hw.enc = json.NewEncoder(hw.buf)
	case "csv":
		hw.csv = csv.NewWriter(hw.buf)
		hw.err = hw.csv.Write(csvHeader)
	default:
		return nil, fmt.Errorf("unknown output format %q (want jsonl or csv)", format)
	}
	return hw, nil
}

func (hw *hitWriter) Write(h widescan.Hit) {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.err != nil {
		return
	}
	r := record(h)
	if hw.enc != nil {
		hw.err = hw.enc.Encode(r)
		return
	}
	hw.err = hw.csv.Write([]string{r.Saddr, r.Daddr, strconv.Itoa(int(r.Hlim)),
		strconv.FormatFloat(r.RTTus, 'f', 1, 64), r.Timestamp})
}

// Flush writes out what is buffered and returns the first write error.
func (hw *hitWriter) Flush() error {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.csv != nil {
		hw.csv.Flush()
		if hw.err == nil {
			hw.err = hw.csv.Error()
		}
	}
	if err := hw.buf.Flush(); hw.err == nil {
		hw.err = err
	}
	return hw.err
}
