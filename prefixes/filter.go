package prefixes

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// Filter selects Records. Each set field is one condition and a record must
// meet all of them; the zero value keeps every record. A Filter is read-only
// once in use and then safe for concurrent use.
type Filter struct {
	// Classes keeps records whose Class is one of these ("inet6num",
	// "route6", "delegated", ...), compared case-insensitively.
	Classes []string
	// Countries keeps records whose Country is one of these codes, compared
	// case-insensitively ("nl" matches "NL").
	Countries []string
	// Statuses keeps records whose Status is one of these, compared
	// case-insensitively and exactly: the registry's own values
	// ("ALLOCATED-BY-RIR", "ASSIGNED PA", "AGGREGATED-BY-LIR") for RPSL, and
	// "allocated", "assigned", "available", "reserved" for delegated files.
	Statuses []string
	// Netname keeps records whose Netname matches this expression.
	Netname *regexp.Regexp
	// Org keeps records whose Org matches this expression.
	Org *regexp.Regexp
	// Origins keeps records whose Origin is one of these AS numbers.
	Origins []uint32
	// Sources keeps records whose Source is one of these registries,
	// case-insensitively ("ripe", "ripencc", "apnic").
	Sources []string
	// MinLen and MaxLen bound the prefix length in bits; 0 means no bound.
	MinLen, MaxLen int
	// CreatedAfter and CreatedBefore bound Created (inclusive at both ends);
	// ModifiedAfter and ModifiedBefore bound LastModified likewise. A zero
	// bound is no bound; a record without the date fails a set bound.
	CreatedAfter, CreatedBefore   time.Time
	ModifiedAfter, ModifiedBefore time.Time
	// Routed keeps records whose prefix overlaps this set (a BGP table: keep
	// only routed space, as yarrp's -b does). Nil is no condition.
	Routed *Lookup
}

// Match reports whether rec meets every condition of f. It does not
// allocate unless a regular expression does.
func (f *Filter) Match(rec *Record) bool {
	if len(f.Classes) > 0 && !containsFold(f.Classes, rec.Class) {
		return false
	}
	if len(f.Countries) > 0 && !containsFold(f.Countries, rec.Country) {
		return false
	}
	if len(f.Statuses) > 0 && !containsFold(f.Statuses, rec.Status) {
		return false
	}
	if len(f.Sources) > 0 && !containsFold(f.Sources, rec.Source) {
		return false
	}
	if len(f.Origins) > 0 && !slices.Contains(f.Origins, rec.Origin) {
		return false
	}
	if b := rec.Prefix.Bits(); (f.MinLen > 0 && b < f.MinLen) || (f.MaxLen > 0 && b > f.MaxLen) {
		return false
	}
	if f.Netname != nil && !f.Netname.MatchString(rec.Netname) {
		return false
	}
	if f.Org != nil && !f.Org.MatchString(rec.Org) {
		return false
	}
	if !inRange(rec.Created, f.CreatedAfter, f.CreatedBefore) ||
		!inRange(rec.LastModified, f.ModifiedAfter, f.ModifiedBefore) {
		return false
	}
	if f.Routed != nil && !f.Routed.Overlaps(rec.Prefix) {
		return false
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// inRange reports whether t lies in [after, before], a zero bound being
// open; with any bound set, a zero t is out of range.
func inRange(t, after, before time.Time) bool {
	if after.IsZero() && before.IsZero() {
		return true
	}
	if t.IsZero() {
		return false
	}
	return (after.IsZero() || !t.Before(after)) && (before.IsZero() || !t.After(before))
}
