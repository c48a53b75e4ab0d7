package retention

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// day is the unit "d" of ParsePolicy.
const day = 24 * time.Hour

// Policy is how much of each room's history to keep. A zero field puts no
// bound on its axis; the zero Policy keeps everything (retention off).
type Policy struct {
	MaxAge   time.Duration // trim messages older than this (by their TS)
	MaxCount int           // keep at most this many messages per room
}

// Off reports whether p keeps everything.
func (p Policy) Off() bool { return p.MaxAge <= 0 && p.MaxCount <= 0 }

// String returns p in the form ParsePolicy reads: "off", "30d", "12h",
// "100000" or "30d,100000".
func (p Policy) String() string {
	if p.Off() {
		return "off"
	}
	var parts []string
	if p.MaxAge > 0 {
		if p.MaxAge%day == 0 {
			parts = append(parts, strconv.FormatInt(int64(p.MaxAge/day), 10)+"d")
		} else {
			parts = append(parts, p.MaxAge.String())
		}
	}
	if p.MaxCount > 0 {
		parts = append(parts, strconv.Itoa(p.MaxCount))
	}
	return strings.Join(parts, ",")
}

// ParsePolicy reads a policy from a flag value: "" or "off" for none; an
// age ("30d", "12h", "1d12h", "90m": days or any Go duration), a count
// ("100000": messages per room), or both separated by a comma
// ("30d,100000", in either order). Zero, negative, repeated and malformed
// bounds are rejected.
func ParsePolicy(s string) (Policy, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "off") {
		return Policy{}, nil
	}
	var p Policy
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if err := p.set(part); err != nil {
			return Policy{}, fmt.Errorf("retention: policy %q: %w", s, err)
		}
	}
	return p, nil
}

// set parses one part of a policy into p.
func (p *Policy) set(part string) error {
	switch {
	case part == "":
		return errors.New(`empty bound (want an age like "30d" or a count like "100000", comma-separated)`)
	case strings.HasPrefix(part, "-"):
		return fmt.Errorf("negative bound %q", part)
	case strings.EqualFold(part, "off"):
		return errors.New(`"off" cannot be combined with bounds`)
	case isDigits(part):
		if p.MaxCount > 0 {
			return fmt.Errorf("count given twice (%d and %s)", p.MaxCount, part)
		}
		n, err := strconv.Atoi(part)
		if err != nil {
			return fmt.Errorf("count %q is too large", part)
		}
		if n == 0 {
			return errors.New(`count 0 would keep nothing; use "off" for no bound`)
		}
		p.MaxCount = n
		return nil
	}
	if p.MaxAge > 0 {
		return fmt.Errorf("age given twice (%v and %s)", p.MaxAge, part)
	}
	age, err := parseAge(part)
	if err != nil {
		return err
	}
	p.MaxAge = age
	return nil
}

// parseAge reads an age: a Go duration, optionally preceded by a whole
// number of days ("30d", "1d12h").
func parseAge(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	if days, after, ok := strings.Cut(s, "d"); ok {
		if !isDigits(days) {
			return 0, fmt.Errorf("age %q: want whole days before \"d\", like \"30d\"", s)
		}
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n > math.MaxInt64/int64(day) {
			return 0, fmt.Errorf("age %q is too large", s)
		}
		total, rest = time.Duration(n)*day, after
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("age %q: want days (\"30d\") or a duration (\"12h\", \"90m\")", s)
		}
		if d < 0 {
			return 0, fmt.Errorf("negative bound %q", s)
		}
		if total > math.MaxInt64-d {
			return 0, fmt.Errorf("age %q is too large", s)
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf(`age %q would keep nothing; use "off" for no bound`, s)
	}
	return total, nil
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
