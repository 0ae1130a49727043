package generator

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// StrategyKind says what a Strategy adds to a scan.
type StrategyKind int

const (
	// StrategyIID fills the host bits of every window with an IID mode
	// (Config.IID): low, fixed, random or eui64.
	StrategyIID StrategyKind = iota
	// StrategyPattern adds the addresses of a nybble template
	// (Config.Patterns), a target source of its own.
	StrategyPattern
	// StrategyList adds the exact addresses of a target file (Config.List),
	// a target source of its own.
	StrategyList
)

// String returns "iid", "pattern" or "list".
func (k StrategyKind) String() string {
	switch k {
	case StrategyIID:
		return "iid"
	case StrategyPattern:
		return "pattern"
	case StrategyList:
		return "list"
	}
	return "StrategyKind(" + strconv.Itoa(int(k)) + ")"
}

// ErrStrategy is wrapped by ParseStrategy for a strategy of no known kind
// and for a list with no file.
var ErrStrategy = errors.New("bad strategy")

// Strategy is a target strategy as ParseStrategy reads it: an IID mode for
// the windows, a pattern, or a target list file. It is a small comparable
// value; the zero value is the IID low:1.
//
// The three combine in one index space (see Config): the windows with
// their IID mode first, then each pattern, then the list, all permuted
// together, sharded, resumable and blocklisted alike. A scan has one IID
// mode, any number of patterns and one list.
type Strategy struct {
	Kind StrategyKind
	// IID is the IID mode of StrategyIID.
	IID IID
	// Pattern is the template of StrategyPattern.
	Pattern Pattern
	// File is the target list path of StrategyList ("-" is standard
	// input). ParseStrategy does not read it; Apply does.
	File string
}

// ParseStrategy parses a target strategy: an IID mode as ParseIID reads it
// ("low:K", "fixed:SUFFIX", "random", "eui64[:MACS]"), "pattern:TEMPLATE"
// with TEMPLATE as ParsePattern reads it ("pattern:2001:db8:*:*::1:*"), or
// "list:FILE" (a file of one address per line, see ReadTargetList). Errors
// wrap ErrIID, ErrPattern or ErrStrategy. String round-trips the result.
// Surrounding whitespace is ignored.
func ParseStrategy(s string) (Strategy, error) {
	s = strings.TrimSpace(s)
	kind, arg, _ := strings.Cut(s, ":")
	switch kind {
	case "pattern":
		p, err := ParsePattern(arg)
		if err != nil {
			return Strategy{}, fmt.Errorf("pattern: %w", err)
		}
		return Strategy{Kind: StrategyPattern, Pattern: p}, nil
	case "list":
		if arg == "" {
			return Strategy{}, fmt.Errorf("%q: want list:FILE: %w", s, ErrStrategy)
		}
		return Strategy{Kind: StrategyList, File: arg}, nil
	case "low", "fixed", "random", "eui64":
		iid, err := ParseIID(s)
		if err != nil {
			return Strategy{}, err
		}
		return Strategy{Kind: StrategyIID, IID: iid}, nil
	}
	return Strategy{}, fmt.Errorf("%q: want an IID mode (low:K, fixed:SUFFIX, random, eui64[:MACS]), pattern:TEMPLATE or list:FILE: %w", s, ErrStrategy)
}

// String returns the strategy in the form ParseStrategy reads.
func (s Strategy) String() string {
	switch s.Kind {
	case StrategyPattern:
		return "pattern:" + s.Pattern.String()
	case StrategyList:
		return "list:" + s.File
	case StrategyIID:
		return s.IID.String()
	}
	return s.Kind.String()
}

// Apply adds the strategy to cfg: it sets cfg.IID, appends to cfg.Patterns,
// or reads the list file (ReadTargetListFile) and sets cfg.List, merged
// with a list already there. It returns the error of reading the file, and
// one wrapping ErrStrategy for an unknown kind.
func (s Strategy) Apply(cfg *Config) error {
	switch s.Kind {
	case StrategyIID:
		cfg.IID = s.IID
	case StrategyPattern:
		cfg.Patterns = append(cfg.Patterns, s.Pattern)
	case StrategyList:
		l, err := ReadTargetListFile(s.File)
		if err != nil {
			return err
		}
		if cfg.List.Len() > 0 {
			l = &TargetList{addrs: append(append([]u128(nil), cfg.List.addrs...), l.addrs...)}
			l.normalize()
		}
		cfg.List = l
	default:
		return fmt.Errorf("%s: %w", s.Kind, ErrStrategy)
	}
	return nil
}
