package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/p2pnet/widescan/widescan"
)

// outputField is one column of the hit output. Names follow ZMap's and
// XMap's where they exist.
type outputField struct {
	name string
	doc  string
	// appendJSON appends the JSON value; appendCSV the CSV cell text.
	appendJSON func(b []byte, h widescan.Hit) []byte
	csv        func(h widescan.Hit) string
}

func jsonString(f func(widescan.Hit) string) func([]byte, widescan.Hit) []byte {
	return func(b []byte, h widescan.Hit) []byte { return strconv.AppendQuote(b, f(h)) }
}

func rttUS(h widescan.Hit) float64 { return float64(h.RTT.Nanoseconds()) / 1e3 }

func outerSaddr(h widescan.Hit) string {
	if h.Success() {
		return ""
	}
	return h.Responder.String()
}

func classification(h widescan.Hit) string {
	switch h.Type {
	case 129:
		return "echoreply"
	case 1:
		return "unreach"
	case 2:
		return "toobig"
	case 3:
		return "timxceed"
	case 4:
		return "paramprob"
	}
	return "other"
}

// outputFields lists every field -f accepts, in their canonical order.
var outputFields = []outputField{
	{"saddr", "the responder: the target for an Echo Reply, the router for an ICMPv6 error",
		jsonString(func(h widescan.Hit) string { return h.Responder.String() }),
		func(h widescan.Hit) string { return h.Responder.String() }},
	{"daddr", "the probed target (authenticated by the probe's MAC)",
		jsonString(func(h widescan.Hit) string { return h.Target.String() }),
		func(h widescan.Hit) string { return h.Target.String() }},
	{"type", "ICMPv6 type: 129 Echo Reply, 1 Destination Unreachable, 2 Packet Too Big, 3 Time Exceeded, 4 Parameter Problem",
		func(b []byte, h widescan.Hit) []byte { return strconv.AppendUint(b, uint64(h.Type), 10) },
		func(h widescan.Hit) string { return strconv.Itoa(int(h.Type)) }},
	{"code", "ICMPv6 code",
		func(b []byte, h widescan.Hit) []byte { return strconv.AppendUint(b, uint64(h.Code), 10) },
		func(h widescan.Hit) string { return strconv.Itoa(int(h.Code)) }},
	{"classification", "echoreply, unreach, toobig, timxceed or paramprob",
		jsonString(classification), classification},
	{"outersaddr", "the source of an ICMPv6 error (the router); empty for an Echo Reply",
		jsonString(outerSaddr), outerSaddr},
	{"hlim", "hop limit of the answer as received",
		func(b []byte, h widescan.Hit) []byte { return strconv.AppendUint(b, uint64(h.HopLimit), 10) },
		func(h widescan.Hit) string { return strconv.Itoa(int(h.HopLimit)) }},
	{"rtt_us", "round-trip time in microseconds",
		func(b []byte, h widescan.Hit) []byte { return strconv.AppendFloat(b, rttUS(h), 'f', -1, 64) },
		func(h widescan.Hit) string { return strconv.FormatFloat(rttUS(h), 'f', 1, 64) }},
	{"timestamp", "capture time, RFC 3339 with nanoseconds, UTC",
		jsonString(func(h widescan.Hit) string { return h.Time.UTC().Format(time.RFC3339Nano) }),
		func(h widescan.Hit) string { return h.Time.UTC().Format(time.RFC3339Nano) }},
	{"success", "true for an Echo Reply from the target, false for an ICMPv6 error (CSV: 1 or 0)",
		func(b []byte, h widescan.Hit) []byte { return strconv.AppendBool(b, h.Success()) },
		func(h widescan.Hit) string {
			if h.Success() {
				return "1"
			}
			return "0"
		}},
	{"repeat", "whether the target answered before; always false, as answers are deduplicated (CSV: 0)",
		func(b []byte, _ widescan.Hit) []byte { return append(b, "false"...) },
		func(widescan.Hit) string { return "0" }},
	{"aliased", "whether the target lies in an aliased prefix (--aliased, --alias-check), so that the hit shows no live host (CSV: 1 or 0); added to the fields when either flag is given",
		func(b []byte, h widescan.Hit) []byte { return strconv.AppendBool(b, h.Aliased) },
		func(h widescan.Hit) string {
			if h.Aliased {
				return "1"
			}
			return "0"
		}},
}

// withField returns the -f list fields with name appended, unless it is
// already there or fields is "*".
func withField(fields, name string) string {
	if strings.TrimSpace(fields) == "*" {
		return fields
	}
	for _, n := range strings.Split(fields, ",") {
		if strings.TrimSpace(n) == name {
			return fields
		}
	}
	return fields + "," + name
}

// defaultOutputFields is the -f default.
const defaultOutputFields = "saddr,daddr,type,code,hlim,rtt_us,timestamp"

// parseOutputFields parses a comma-separated list of field names; "*" is
// every field.
func parseOutputFields(s string) ([]outputField, error) {
	if strings.TrimSpace(s) == "*" {
		return outputFields, nil
	}
	var fs []outputField
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, f := range outputFields {
			if f.name == n {
				fs, found = append(fs, f), true
				break
			}
		}
		if !found {
			names := make([]string, len(outputFields))
			for i, f := range outputFields {
				names[i] = f.name
			}
			return nil, fmt.Errorf("unknown output field %q (want some of %s, or *)", n, strings.Join(names, ","))
		}
	}
	return fs, nil
}

// hitWriter writes hits as JSON lines or CSV. Write may be called from the
// scanner's hit goroutine while Flush runs from another.
type hitWriter struct {
	mu     sync.Mutex
	fields []outputField
	buf    *bufio.Writer
	json   bool
	line   []byte
	csv    *csv.Writer
	row    []string
	err    error
}

func newHitWriter(w io.Writer, format string) (*hitWriter, error) {
	return newHitWriterFields(w, format, defaultOutputFields)
}

func newHitWriterFields(w io.Writer, format, fields string) (*hitWriter, error) {
	fs, err := parseOutputFields(fields)
	if err != nil {
		return nil, err
	}
	hw := &hitWriter{fields: fs, buf: bufio.NewWriterSize(w, 64<<10)}
	switch format {
	case "jsonl":
		hw.json = true
	case "csv":
		hw.csv = csv.NewWriter(hw.buf)
		hw.row = make([]string, len(fs))
		for i, f := range fs {
			hw.row[i] = f.name
		}
		hw.err = hw.csv.Write(hw.row)
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
	if hw.json {
		b := append(hw.line[:0], '{')
		for i, f := range hw.fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = f.appendJSON(b, h)
		}
		b = append(b, '}', '\n')
		hw.line = b
		_, hw.err = hw.buf.Write(b)
		return
	}
	for i, f := range hw.fields {
		hw.row[i] = f.csv(h)
	}
	hw.err = hw.csv.Write(hw.row)
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
