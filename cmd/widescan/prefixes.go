package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go4.org/netipx"

	"github.com/p2pnet/widescan/prefixes"
)

type prefixesFlags struct {
	format         string
	inputFormat    string
	windowTo       int
	stats          bool
	strict         bool
	aggregate      bool
	mostSpecific   bool
	subtractBuilt  bool
	blocklists     []string
	routed         []string
	classes        []string
	countries      []string
	statuses       []string
	sources        []string
	origins        []string
	netname        string
	org            string
	minLen, maxLen int
	createdAfter   string
	createdBefore  string
	modifiedAfter  string
	modifiedBefore string
}

func newPrefixesCmd() *cobra.Command {
	var f prefixesFlags
	cmd := &cobra.Command{
		Use:   "prefixes [flags] FILE...",
		Short: "Read registry and routing files and print a filtered target prefix list",
		Long: `Prefixes reads prefix sources (plain or gzip, detected by content) and prints
one prefix per line, ready for "widescan scan -p". Formats are detected from the
content or named with --input-format:

  rpsl       RIPE database dumps (ripe.db.inet6num, ripe.db.route6), whois output
  delegated  RIR delegated-extended statistics (ipv6 lines) of any of the five RIRs
  bgp        pyasn IPASN files and "prefix asn" lists
  ripestat   RIPEstat CSV "prefix,cc,name"
  plain      one prefix per line, # comments (Team Cymru fullbogons, opt-out lists)

Without flags every record's prefix is printed as the file has it, in file
order: no blocklist, no aggregation, no dedup. Filters (--country, --status,
--netname, ...) keep the records meeting all of them. --subtract-builtin and
--blocklist cut blocked space out of each record (a partly blocked record
prints its remaining parts); --routed keeps records overlapping a BGP table;
--most-specific drops records that contain other records; --aggregate prints
the union as the fewest prefixes (and intersects it with --routed tables).
--window-to N prints XMap windows ("2001:db8::/32-64") for "widescan scan".

A malformed record is reported on stderr with file, line and reason and
skipped; --strict makes it fatal. --stats writes counts per file, class,
source registry, status and length of the records kept by the filters, and
the rejects by reason, to stderr (stdout stays a clean prefix list).`,
		Example: `  widescan prefixes --country NL --status allocated,assigned delegated-ripencc-extended-latest.gz
  widescan prefixes --status 'ASSIGNED PA' --window-to 64 ripe.db.inet6num.gz > targets.txt
  widescan prefixes --routed ipasn.dat --subtract-builtin --blocklist fullbogons-ipv6.txt --aggregate ripe.db.inet6num.gz
  widescan prefixes --stats --format json ripe.db.route6.gz`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrefixes(cmd.Context(), f, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f.bind(cmd.Flags())
	return cmd
}

// bind defines the prefixes flags on fl, stored in f.
func (f *prefixesFlags) bind(fl *pflag.FlagSet) {
	fl.StringVar(&f.format, "format", "text", "output: text (one prefix or window per line) or json (one object per line)")
	fl.StringVar(&f.inputFormat, "input-format", "auto", "input format: auto, rpsl, delegated, bgp, ripestat or plain")
	fl.IntVar(&f.windowTo, "window-to", 0, "print XMap windows PREFIX-`N` (every /N inside each prefix); 0 prints prefixes")
	fl.BoolVar(&f.stats, "stats", false, "write counts per file, class, status and length and rejects by reason to stderr")
	fl.BoolVar(&f.strict, "strict", false, "stop at the first malformed record")
	fl.BoolVar(&f.aggregate, "aggregate", false, "print the union of the kept prefixes as the fewest prefixes")
	fl.BoolVar(&f.mostSpecific, "most-specific", false, "drop records whose prefix contains another kept record's")
	fl.BoolVar(&f.subtractBuilt, "subtract-builtin", false, "cut the built-in blocklist (IANA special-purpose registry, multicast) out")
	fl.StringArrayVarP(&f.blocklists, "blocklist", "b", nil, "cut the prefixes of plain list `FILE` out, e.g. Team Cymru fullbogons (repeatable)")
	fl.StringArrayVar(&f.routed, "routed", nil, "keep only records overlapping the BGP table `FILE` (repeatable)")
	fl.StringSliceVar(&f.classes, "class", nil, "keep these record classes: inet6num, route6, delegated, bgp, ripestat, plain")
	fl.StringSliceVar(&f.countries, "country", nil, "keep these country codes (comma-separated, case-insensitive)")
	fl.StringSliceVar(&f.statuses, "status", nil, "keep these statuses, e.g. 'ASSIGNED PA',ALLOCATED-BY-RIR or allocated,assigned")
	fl.StringSliceVar(&f.sources, "source", nil, "keep these source registries, e.g. RIPE or ripencc,apnic")
	fl.StringSliceVar(&f.origins, "origin", nil, "keep these origin ASes, e.g. AS3320,64496")
	fl.StringVar(&f.netname, "netname", "", "keep records whose netname matches `REGEXP`")
	fl.StringVar(&f.org, "org", "", "keep records whose org (opaque-id for delegated files) matches `REGEXP`")
	fl.IntVar(&f.minLen, "min-len", 0, "keep prefixes of at least this length in bits; 0 is no bound")
	fl.IntVar(&f.maxLen, "max-len", 0, "keep prefixes of at most this length in bits; 0 is no bound")
	fl.StringVar(&f.createdAfter, "created-after", "", "keep records created on or after `DATE` (2006-01-02 or RFC 3339)")
	fl.StringVar(&f.createdBefore, "created-before", "", "keep records created on or before `DATE`")
	fl.StringVar(&f.modifiedAfter, "modified-after", "", "keep records last modified on or after `DATE`")
	fl.StringVar(&f.modifiedBefore, "modified-before", "", "keep records last modified on or before `DATE`")
}

// parseDate reads a flag's date: 2006-01-02 (midnight UTC; as an upper bound,
// the end of that day) or RFC 3339.
func parseDate(flag, s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: want YYYY-MM-DD or RFC 3339", flag, s)
	}
	return t, nil
}

// filter turns the filter flags into a prefixes.Filter (Routed is set later).
func (f prefixesFlags) filter() (prefixes.Filter, error) {
	flt := prefixes.Filter{Classes: f.classes, Countries: f.countries, Statuses: f.statuses, Sources: f.sources}
	for _, o := range f.origins {
		asn, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(o)), "AS"), 10, 32)
		if err != nil {
			return flt, fmt.Errorf("--origin %q: not an AS number", o)
		}
		flt.Origins = append(flt.Origins, uint32(asn))
	}
	var err error
	if f.netname != "" {
		if flt.Netname, err = regexp.Compile(f.netname); err != nil {
			return flt, fmt.Errorf("--netname: %w", err)
		}
	}
	if f.org != "" {
		if flt.Org, err = regexp.Compile(f.org); err != nil {
			return flt, fmt.Errorf("--org: %w", err)
		}
	}
	if f.minLen < 0 || f.minLen > 128 || f.maxLen < 0 || f.maxLen > 128 {
		return flt, fmt.Errorf("--min-len %d / --max-len %d: outside 0..128", f.minLen, f.maxLen)
	}
	flt.MinLen, flt.MaxLen = f.minLen, f.maxLen
	for _, d := range []struct {
		flag string
		s    string
		end  bool
		dst  *time.Time
	}{
		{"created-after", f.createdAfter, false, &flt.CreatedAfter},
		{"created-before", f.createdBefore, true, &flt.CreatedBefore},
		{"modified-after", f.modifiedAfter, false, &flt.ModifiedAfter},
		{"modified-before", f.modifiedBefore, true, &flt.ModifiedBefore},
	} {
		if *d.dst, err = parseDate(d.flag, d.s, d.end); err != nil {
			return flt, err
		}
	}
	return flt, nil
}

// prefixRecord is one JSON output line.
type prefixRecord struct {
	Prefix       string   `json:"prefix"`
	Window       string   `json:"window,omitempty"`
	Class        string   `json:"class,omitempty"`
	Country      string   `json:"country,omitempty"`
	Status       string   `json:"status,omitempty"`
	Netname      string   `json:"netname,omitempty"`
	Org          string   `json:"org,omitempty"`
	Origin       uint32   `json:"origin,omitempty"`
	Source       string   `json:"source,omitempty"`
	MntBy        []string `json:"mnt_by,omitempty"`
	Created      string   `json:"created,omitempty"`
	LastModified string   `json:"last_modified,omitempty"`
	File         string   `json:"file,omitempty"`
	Line         int      `json:"line,omitempty"`
}

// prefixStats are the --stats counts.
type prefixStats struct {
	files    []fileStats
	class    map[string]int
	source   map[string]int
	status   map[string]int
	length   map[int]int
	reasons  map[string]int
	kept     int
	filtered int
	blocked  int
	printed  int
}

type fileStats struct {
	name   string
	format prefixes.Format
	counts prefixes.Counts
}

// reason names the sentinel a malformed record's error wraps.
func reason(err error) string {
	for _, r := range prefixes.Reasons() {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	return "other"
}

// maxReported is how many malformed records per file are printed one by one.
const maxReported = prefixes.MaxParseErrors

func runPrefixes(ctx context.Context, f prefixesFlags, files []string, stdout, stderr io.Writer) error {
	if len(files) == 0 {
		return errors.New("no input: give one or more FILE arguments")
	}
	if f.format != "text" && f.format != "json" {
		return fmt.Errorf("--format %q: want text or json", f.format)
	}
	if f.windowTo < 0 || f.windowTo > 128 {
		return fmt.Errorf("--window-to %d: outside 0..128", f.windowTo)
	}
	inFormat, err := prefixes.ParseFormat(f.inputFormat)
	if err != nil {
		return fmt.Errorf("--input-format: %w", err)
	}
	flt, err := f.filter()
	if err != nil {
		return err
	}
	var routedSet *netipx.IPSet
	if len(f.routed) > 0 {
		var b netipx.IPSetBuilder
		for _, p := range f.routed {
			if err := readAll(ctx, p, prefixes.FormatAuto, f.strict, stderr, nil, func(rec prefixes.Record) { b.AddPrefix(rec.Prefix) }); err != nil {
				return fmt.Errorf("--routed: %w", err)
			}
		}
		if routedSet, err = b.IPSet(); err != nil {
			return fmt.Errorf("--routed: %w", err)
		}
		flt.Routed = prefixes.NewLookup(routedSet)
	}
	var (
		blocked       *netipx.IPSet
		blockedLookup *prefixes.Lookup
	)
	if f.subtractBuilt || len(f.blocklists) > 0 {
		var b netipx.IPSetBuilder
		if f.subtractBuilt {
			bl, err := prefixes.NewBlocklist(nil, nil)
			if err != nil {
				return err
			}
			b.AddSet(bl.IPSet())
		}
		for _, p := range f.blocklists {
			ps, err := prefixes.ParsePrefixFile(p)
			if err != nil {
				return err
			}
			for _, q := range ps {
				b.AddPrefix(q)
			}
		}
		if blocked, err = b.IPSet(); err != nil {
			return fmt.Errorf("blocklist: %w", err)
		}
		blockedLookup = prefixes.NewLookup(blocked)
	}

	st := &prefixStats{class: map[string]int{}, source: map[string]int{}, status: map[string]int{}, length: map[int]int{}, reasons: map[string]int{}}
	out := bufio.NewWriterSize(stdout, 64<<10)
	enc := json.NewEncoder(out)
	emit := func(rec prefixes.Record) error {
		if blocked != nil {
			parts := prefixes.Remainder(rec.Prefix, blockedLookup)
			if len(parts) == 0 {
				st.blocked++
				return nil
			}
			if len(parts) > 1 || parts[0] != rec.Prefix {
				for _, p := range parts {
					r := rec
					r.Prefix = p
					if err := write(out, enc, f, r); err != nil {
						return err
					}
					st.printed++
				}
				return nil
			}
		}
		st.printed++
		return write(out, enc, f, rec)
	}
	var collected []prefixes.Record
	collect := f.aggregate || f.mostSpecific
	var werr error
	for _, name := range files {
		if werr != nil {
			break
		}
		err := readAll(ctx, name, inFormat, f.strict, stderr, st, func(rec prefixes.Record) {
			if !flt.Match(&rec) {
				st.filtered++
				return
			}
			st.kept++
			st.class[rec.Class]++
			st.source[rec.Source]++
			st.status[rec.Status]++
			st.length[rec.Prefix.Bits()]++
			if collect {
				collected = append(collected, rec)
			} else if werr == nil {
				werr = emit(rec)
			}
		})
		if err != nil {
			return err
		}
	}
	if werr != nil {
		return fmt.Errorf("write: %w", werr)
	}
	if f.mostSpecific {
		ps := make([]netip.Prefix, len(collected))
		for i, r := range collected {
			ps[i] = r.Prefix
		}
		keep := map[netip.Prefix]bool{}
		for _, p := range prefixes.MostSpecific(ps) {
			keep[p] = true
		}
		kept := collected[:0]
		for _, r := range collected {
			if keep[r.Prefix] {
				kept = append(kept, r)
				delete(keep, r.Prefix) // one record per prefix
			}
		}
		collected = kept
	}
	if f.aggregate {
		ps := make([]netip.Prefix, len(collected))
		for i, r := range collected {
			ps[i] = r.Prefix
		}
		agg, err := prefixes.Aggregate(ps)
		if err == nil && blocked != nil {
			agg, err = prefixes.Subtract(agg, blocked.Prefixes())
		}
		if err == nil && routedSet != nil {
			agg, err = prefixes.Intersect(agg, routedSet)
		}
		if err != nil {
			return err
		}
		for _, p := range agg {
			st.printed++
			if err := write(out, enc, f, prefixes.Record{Prefix: p}); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	} else if collect {
		for _, r := range collected {
			if err := emit(r); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if f.stats {
		st.write(stderr)
	}
	return nil
}

// write prints one output line for rec.
func write(w *bufio.Writer, enc *json.Encoder, f prefixesFlags, rec prefixes.Record) error {
	window := ""
	if f.windowTo > 0 {
		window = prefixes.Window{Prefix: rec.Prefix, End: max(rec.Prefix.Bits(), f.windowTo)}.String()
	}
	if f.format == "text" {
		s := window
		if s == "" {
			s = rec.Prefix.String()
		}
		w.WriteString(s)
		return w.WriteByte('\n')
	}
	j := prefixRecord{
		Prefix: rec.Prefix.String(), Window: window, Class: rec.Class, Country: rec.Country, Status: rec.Status,
		Netname: rec.Netname, Org: rec.Org, Origin: rec.Origin, Source: rec.Source, MntBy: rec.MntBy,
		File: rec.File, Line: rec.Line,
	}
	if !rec.Created.IsZero() {
		j.Created = rec.Created.Format(time.RFC3339)
	}
	if !rec.LastModified.IsZero() {
		j.LastModified = rec.LastModified.Format(time.RFC3339)
	}
	return enc.Encode(j)
}

// readAll calls fn with every record of the file at path. A malformed record
// is fatal with strict, and otherwise reported on stderr (the first
// maxReported per file) and counted in st (when not nil).
func readAll(ctx context.Context, path string, format prefixes.Format, strict bool, stderr io.Writer, st *prefixStats, fn func(prefixes.Record)) error {
	r, err := prefixes.Open(path, format)
	if err != nil {
		return err
	}
	defer r.Close()
	reported := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var pe *prefixes.ParseError
		switch {
		case errors.As(err, &pe):
			if strict {
				return fmt.Errorf("%w (--strict)", err)
			}
			if st != nil {
				st.reasons[reason(err)]++
			}
			if reported < maxReported {
				fmt.Fprintf(stderr, "widescan prefixes: skipped %v\n", err)
			}
			reported++
			continue
		case err != nil:
			return err
		}
		if r.Counts().Records%4096 == 0 && ctx.Err() != nil {
			return errInterrupted
		}
		fn(rec)
	}
	if reported > maxReported {
		fmt.Fprintf(stderr, "widescan prefixes: %s: %d more malformed records skipped\n", path, reported-maxReported)
	}
	if st != nil {
		st.files = append(st.files, fileStats{name: path, format: r.Format(), counts: r.Counts()})
	}
	return nil
}

// write prints the stats, sorted for a stable reading.
func (st *prefixStats) write(w io.Writer) {
	fmt.Fprintln(w, "# widescan prefixes --stats")
	rejected := 0
	for _, fs := range st.files {
		c := fs.counts
		rejected += c.Malformed
		fmt.Fprintf(w, "file\t%s\tformat=%s lines=%d records=%d rejected=%d ignored=%d\n",
			fs.name, fs.format, c.Lines, c.Records, c.Malformed, c.Ignored)
	}
	printMap(w, "class", st.class)
	printMap(w, "source", st.source)
	printMap(w, "status", st.status)
	lens := make(map[string]int, len(st.length))
	for l, n := range st.length {
		lens["/"+strconv.Itoa(l)] = n
	}
	printMap(w, "length", lens)
	printMap(w, "rejected", st.reasons)
	fmt.Fprintf(w, "total\trecords kept=%d filtered-out=%d blocked=%d rejected=%d printed=%d\n",
		st.kept, st.filtered, st.blocked, rejected, st.printed)
}

func printMap(w io.Writer, kind string, m map[string]int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		name := k
		if name == "" {
			name = "(none)"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\n", kind, name, m[k])
	}
}
