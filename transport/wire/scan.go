package wire

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A strict RFC 8259 scanner. It validates the whole payload in one pass and
// records, for each top-level member the decoder cares about, where its value
// lies; values are copied out later, only when the frame type uses them.
// Syntax acceptance matches encoding/json's json.Valid exactly (checked by a
// differential fuzz test); string decoding matches encoding/json's (invalid UTF-8
// and lone surrogates become U+FFFD).

// valueKind is the JSON type of a value; kindAbsent marks a member not present.
type valueKind uint8

const (
	kindAbsent valueKind = iota
	kindNull
	kindTrue
	kindFalse
	kindNumber
	kindString
	kindObject
	kindArray
)

// span flags.
const (
	flagEscaped = 1 << iota // string: contains a backslash escape
	flagBadUTF8             // string or container: contains invalid UTF-8
	flagSpace               // container or top level: contains whitespace between tokens
	flagInt                 // number: no fraction, no exponent
	flagNeg                 // number: leading minus
)

// span locates one JSON value in the scanned buffer: b[start:end].
type span struct {
	start, end int
	kind       valueKind
	flags      uint8
}

// scan errors.
const (
	errNone = iota
	errSyntax
	errDepth
)

// scanner walks one buffer. maxDepth bounds the nesting of containers; the
// outermost container has depth 1.
type scanner struct {
	b        []byte
	i        int
	maxDepth int
	err      int
	spaces   int // whitespace runs consumed so far
	badUTF8  int // strings with invalid UTF-8 seen so far
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) ws() {
	i := s.i
	for i < len(s.b) && isSpace(s.b[i]) {
		i++
	}
	if i != s.i {
		s.spaces++
		s.i = i
	}
}

func (s *scanner) fail() bool {
	if s.err == errNone {
		s.err = errSyntax
	}
	return false
}

// value scans the value at s.i (no leading whitespace); a container found there
// has depth depth.
func (s *scanner) value(depth int) (span, bool) {
	if s.i >= len(s.b) {
		return span{}, s.fail()
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.str()
	case c == '{':
		return s.container(depth, nil, nil)
	case c == '[':
		return s.container(depth, nil, nil)
	case c == '-' || ('0' <= c && c <= '9'):
		return s.num()
	case c == 't':
		return s.lit("true", kindTrue)
	case c == 'f':
		return s.lit("false", kindFalse)
	case c == 'n':
		return s.lit("null", kindNull)
	}
	return span{}, s.fail()
}

func (s *scanner) lit(word string, k valueKind) (span, bool) {
	start := s.i
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return span{}, s.fail()
	}
	s.i += len(word)
	return span{start: start, end: s.i, kind: k}, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func (s *scanner) num() (span, bool) {
	b, i := s.b, s.i
	start := i
	fl := uint8(flagInt)
	if b[i] == '-' {
		fl |= flagNeg
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return span{}, s.fail()
	}
	if i < len(b) && b[i] == '.' {
		fl &^= flagInt
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return span{}, s.fail()
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		fl &^= flagInt
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return span{}, s.fail()
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	s.i = i
	return span{start: start, end: i, kind: kindNumber, flags: fl}, true
}

// str scans a string at s.i (on its opening quote).
func (s *scanner) str() (span, bool) {
	b, i := s.b, s.i+1
	start := s.i
	var fl uint8
	for i < len(b) {
		c := b[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			i++ // the common case first
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			if fl&flagBadUTF8 != 0 {
				s.badUTF8++
			}
			return span{start: start, end: s.i, kind: kindString, flags: fl}, true
		case c == '\\':
			fl |= flagEscaped
			i++
			if i >= len(b) {
				return span{}, s.fail()
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(b)-i < 5 || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return span{}, s.fail()
				}
				i += 5
			default:
				return span{}, s.fail()
			}
		case c < 0x20:
			return span{}, s.fail()
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				fl |= flagBadUTF8
			}
			i += n
		}
	}
	return span{}, s.fail()
}

// container scans an object or array at s.i. For an object with a non-nil rec,
// the value of every member whose key lookup maps to an index is recorded in rec
// (a later duplicate key wins, as in encoding/json).
func (s *scanner) container(depth int, rec []span, lookup func(key []byte) int) (span, bool) {
	if depth > s.maxDepth {
		s.err = errDepth
		return span{}, false
	}
	start := s.i
	spaces, bad := s.spaces, s.badUTF8
	obj := s.b[s.i] == '{'
	closing := byte(']')
	kind := kindArray
	if obj {
		closing, kind = '}', kindObject
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == closing {
		s.i++
	} else {
		for {
			var key span
			if obj {
				if s.i >= len(s.b) || s.b[s.i] != '"' {
					return span{}, s.fail()
				}
				var ok bool
				if key, ok = s.str(); !ok {
					return span{}, false
				}
				s.ws()
				if s.i >= len(s.b) || s.b[s.i] != ':' {
					return span{}, s.fail()
				}
				s.i++
				s.ws()
			}
			v, ok := s.value(depth + 1)
			if !ok {
				return span{}, false
			}
			if rec != nil {
				if idx := s.lookupKey(key, lookup); idx >= 0 {
					rec[idx] = v
				}
			}
			s.ws()
			if s.i >= len(s.b) {
				return span{}, s.fail()
			}
			if c := s.b[s.i]; c == ',' {
				s.i++
				s.ws()
				continue
			} else if c == closing {
				s.i++
				break
			}
			return span{}, s.fail()
		}
	}
	sp := span{start: start, end: s.i, kind: kind}
	if s.spaces != spaces {
		sp.flags |= flagSpace
	}
	if s.badUTF8 != bad {
		sp.flags |= flagBadUTF8
	}
	return sp, true
}

func (s *scanner) lookupKey(key span, lookup func([]byte) int) int {
	raw := s.b[key.start+1 : key.end-1]
	if key.flags&(flagEscaped|flagBadUTF8) == 0 {
		return lookup(raw)
	}
	return lookup([]byte(unquote(s.b[key.start:key.end])))
}

// scanValue validates b as exactly one JSON value with optional surrounding
// whitespace, nested at most maxDepth deep. The returned span covers the value
// without the surrounding whitespace; its flagSpace is set when b holds any
// whitespace outside strings and flagBadUTF8 when a string holds invalid UTF-8.
func scanValue(b []byte, maxDepth int) (span, bool) {
	s := scanner{b: b, maxDepth: maxDepth}
	s.ws()
	v, ok := s.value(1)
	if !ok {
		return span{}, false
	}
	s.ws()
	if s.i != len(b) {
		return span{}, false
	}
	if s.spaces != 0 {
		v.flags |= flagSpace
	}
	if s.badUTF8 != 0 {
		v.flags |= flagBadUTF8
	}
	return v, true
}

// unquote decodes a scanned JSON string literal (quotes included) exactly as
// encoding/json does: invalid UTF-8 and unpaired surrogates become U+FFFD.
func unquote(lit []byte) string {
	raw := lit[1 : len(lit)-1]
	var sb strings.Builder
	sb.Grow(len(raw) + 2)
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			i++
			switch raw[i] {
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				r := hex4(raw[i+1:])
				i += 5
				if utf16.IsSurrogate(r) {
					if len(raw)-i >= 6 && raw[i] == '\\' && raw[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, hex4(raw[i+2:])); dec != unicode.ReplacementChar {
							sb.WriteRune(dec)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				sb.WriteRune(r)
				continue
			default: // '"', '\\', '/'
				sb.WriteByte(raw[i])
			}
			i++
		case c < utf8.RuneSelf:
			sb.WriteByte(c)
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 {
				sb.WriteString("\uFFFD")
			} else {
				sb.Write(raw[i : i+n])
			}
			i += n
		}
	}
	return sb.String()
}

// hex4 decodes four hex digits the scanner has already checked.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// stringValue returns the decoded string of a scanned string span as a copy.
func stringValue(b []byte, v span) string {
	if v.flags&(flagEscaped|flagBadUTF8) == 0 {
		return string(b[v.start+1 : v.end-1])
	}
	return unquote(b[v.start:v.end])
}

// appendCompact appends the scanned JSON value raw without whitespace outside
// strings and with invalid UTF-8 inside strings replaced by U+FFFD, which keeps
// it valid JSON.
func appendCompact(dst, raw []byte) []byte {
	inStr := false
	for i := 0; i < len(raw); {
		c := raw[i]
		if inStr {
			switch {
			case c == '\\':
				dst = append(dst, c, raw[i+1])
				i += 2
				continue
			case c == '"':
				inStr = false
			case c >= utf8.RuneSelf:
				r, n := utf8.DecodeRune(raw[i:])
				if r == utf8.RuneError && n == 1 {
					dst = append(dst, "\uFFFD"...)
				} else {
					dst = append(dst, raw[i:i+n]...)
				}
				i += n
				continue
			}
			dst = append(dst, c)
			i++
			continue
		}
		if isSpace(c) {
			i++
			continue
		}
		if c == '"' {
			inStr = true
		}
		dst = append(dst, c)
		i++
	}
	return dst
}
