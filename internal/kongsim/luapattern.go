package kongsim

import (
	"errors"
	"fmt"
)

// Kong's schema validators match, not_match, match_all, match_none and
// match_any call Lua's string.match (kong/db/schema/init.lua
// Schema.validators), so plugin schemas carry Lua patterns, not regular
// expressions. This is a port of the Lua 5.1 matcher (lstrlib.c: match,
// singlematch, classEnd, matchbracketclass, max_expand, min_expand,
// start_capture, end_capture, match_capture, matchbalance, %f frontier),
// which LuaJIT (Kong's VM) implements with 5.1 semantics: no %g class, '^'
// is an anchor only at the start of the pattern and '$' only at its end.
// Character classes use the C locale, i.e. ASCII only.

const (
	luaMaxCaptures  = 32 // LUA_MAXCAPTURES
	capUnfinished   = -1
	capPosition     = -2
	luaPatternDepth = 200 // guard against runaway recursion (Lua 5.2's MAXCCALLS)
)

// LuaPatternError is the error string.match raises for a malformed pattern.
type LuaPatternError struct{ Msg string }

func (e *LuaPatternError) Error() string { return e.Msg }

type luaMatchState struct {
	src     string
	pat     string
	level   int
	depth   int
	capture [luaMaxCaptures]struct{ init, len int }
}

// luaPatternPanic carries a pattern error out of the recursive matcher.
type luaPatternPanic struct{ err *LuaPatternError }

func (ms *luaMatchState) fail(format string, args ...any) {
	panic(luaPatternPanic{&LuaPatternError{Msg: fmt.Sprintf(format, args...)}})
}

// patAt returns the pattern byte at i, or 0 past the end (C's '\0').
func (ms *luaMatchState) patAt(i int) byte {
	if i < len(ms.pat) {
		return ms.pat[i]
	}
	return 0
}

// luaMatch is string.match(s, pattern): it reports whether the pattern
// matches anywhere in s (or at the start when anchored with '^') and
// returns the captures (the whole match when the pattern has none;
// position captures are rendered as decimal strings).
func luaMatch(s, pattern string) (captures []string, matched bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(luaPatternPanic)
			if !ok {
				panic(r)
			}
			captures, matched, err = nil, false, p.err
		}
	}()
	ms := &luaMatchState{src: s, pat: pattern}
	p := 0
	anchor := len(pattern) > 0 && pattern[0] == '^'
	if anchor {
		p = 1
	}
	s1 := 0
	for {
		ms.level = 0
		ms.depth = 0
		if e := ms.match(s1, p); e != -1 {
			return ms.captures(s1, e), true, nil
		}
		s1++
		if s1 > len(s) || anchor {
			return nil, false, nil
		}
	}
}

// luaPatternMatches is `s:match(pattern) ~= nil`.
func luaPatternMatches(s, pattern string) (bool, error) {
	_, ok, err := luaMatch(s, pattern)
	return ok, err
}

func (ms *luaMatchState) captures(s, e int) []string {
	n := ms.level
	if n == 0 {
		return []string{ms.src[s:e]}
	}
	out := make([]string, n)
	for i := 0; i < n; i++ {
		c := ms.capture[i]
		switch c.len {
		case capUnfinished:
			ms.fail("unfinished capture")
		case capPosition:
			out[i] = fmt.Sprint(c.init + 1)
		default:
			out[i] = ms.src[c.init : c.init+c.len]
		}
	}
	return out
}

func (ms *luaMatchState) classEnd(p int) int {
	c := ms.patAt(p)
	p++
	switch c {
	case '%':
		if p >= len(ms.pat) {
			ms.fail("malformed pattern (ends with '%%')")
		}
		return p + 1
	case '[':
		if ms.patAt(p) == '^' {
			p++
		}
		for { // look for a ']'
			if p >= len(ms.pat) {
				ms.fail("malformed pattern (missing ']')")
			}
			c := ms.pat[p]
			p++
			if c == '%' && p < len(ms.pat) {
				p++ // skip escapes (e.g. '%]')
			}
			if ms.patAt(p) == ']' {
				break
			}
		}
		return p + 1
	}
	return p
}

func isLuaAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isLuaDigit(c byte) bool { return c >= '0' && c <= '9' }
func isLuaLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isLuaUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLuaSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }
func isLuaCntrl(c byte) bool { return c < 32 || c == 127 }
func isLuaXDigit(c byte) bool {
	return isLuaDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
func isLuaPunct(c byte) bool {
	return c > 32 && c < 127 && !isLuaAlpha(c) && !isLuaDigit(c)
}

func luaMatchClass(c, cl byte) bool {
	var res bool
	lower := cl
	if isLuaUpper(cl) {
		lower = cl + ('a' - 'A')
	}
	switch lower {
	case 'a':
		res = isLuaAlpha(c)
	case 'c':
		res = isLuaCntrl(c)
	case 'd':
		res = isLuaDigit(c)
	case 'l':
		res = isLuaLower(c)
	case 'p':
		res = isLuaPunct(c)
	case 's':
		res = isLuaSpace(c)
	case 'u':
		res = isLuaUpper(c)
	case 'w':
		res = isLuaAlpha(c) || isLuaDigit(c)
	case 'x':
		res = isLuaXDigit(c)
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if isLuaUpper(cl) {
		return !res
	}
	return res
}

// matchBracketClass: p is the index of '[', ec the index of its ']'.
func (ms *luaMatchState) matchBracketClass(c byte, p, ec int) bool {
	sig := true
	if ms.patAt(p+1) == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		switch {
		case ms.pat[p] == '%':
			p++
			if luaMatchClass(c, ms.patAt(p)) {
				return sig
			}
		case ms.patAt(p+1) == '-' && p+2 < ec:
			p += 2
			if ms.pat[p-2] <= c && c <= ms.pat[p] {
				return sig
			}
		case ms.pat[p] == c:
			return sig
		}
	}
	return !sig
}

func (ms *luaMatchState) singleMatch(s, p, ep int) bool {
	if s >= len(ms.src) {
		return false
	}
	c := ms.src[s]
	switch ms.pat[p] {
	case '.':
		return true
	case '%':
		return luaMatchClass(c, ms.patAt(p+1))
	case '[':
		return ms.matchBracketClass(c, p, ep-1)
	}
	return ms.pat[p] == c
}

func (ms *luaMatchState) matchBalance(s, p int) int {
	if p+1 >= len(ms.pat) {
		ms.fail("unbalanced pattern")
	}
	if s >= len(ms.src) || ms.src[s] != ms.pat[p] {
		return -1
	}
	b, e := ms.pat[p], ms.pat[p+1]
	cont := 1
	for s++; s < len(ms.src); s++ {
		switch ms.src[s] {
		case e:
			cont--
			if cont == 0 {
				return s + 1
			}
		case b:
			cont++
		}
	}
	return -1
}

func (ms *luaMatchState) maxExpand(s, p, ep int) int {
	i := 0
	for ms.singleMatch(s+i, p, ep) {
		i++
	}
	for ; i >= 0; i-- {
		if res := ms.match(s+i, ep+1); res != -1 {
			return res
		}
	}
	return -1
}

func (ms *luaMatchState) minExpand(s, p, ep int) int {
	for {
		if res := ms.match(s, ep+1); res != -1 {
			return res
		}
		if ms.singleMatch(s, p, ep) {
			s++
		} else {
			return -1
		}
	}
}

func (ms *luaMatchState) startCapture(s, p, what int) int {
	if ms.level >= luaMaxCaptures {
		ms.fail("too many captures")
	}
	ms.capture[ms.level].init = s
	ms.capture[ms.level].len = what
	ms.level++
	res := ms.match(s, p)
	if res == -1 {
		ms.level--
	}
	return res
}

func (ms *luaMatchState) endCapture(s, p int) int {
	l := -1
	for level := ms.level - 1; level >= 0; level-- {
		if ms.capture[level].len == capUnfinished {
			l = level
			break
		}
	}
	if l < 0 {
		ms.fail("invalid pattern capture")
	}
	ms.capture[l].len = s - ms.capture[l].init
	res := ms.match(s, p)
	if res == -1 {
		ms.capture[l].len = capUnfinished
	}
	return res
}

func (ms *luaMatchState) matchCapture(s int, l byte) int {
	idx := int(l) - '1'
	if idx < 0 || idx >= ms.level || ms.capture[idx].len == capUnfinished {
		ms.fail("invalid capture index")
	}
	c := ms.capture[idx]
	n := c.len
	if n < 0 {
		// A position capture has len CAP_POSITION; lstrlib compares it as
		// size_t, so a back-reference to it never matches.
		return -1
	}
	if len(ms.src)-s >= n && ms.src[c.init:c.init+n] == ms.src[s:s+n] {
		return s + n
	}
	return -1
}

// match returns the end index of a match of pat[p:] at src[s:], or -1.
func (ms *luaMatchState) match(s, p int) int {
	ms.depth++
	defer func() { ms.depth-- }()
	if ms.depth > luaPatternDepth {
		ms.fail("pattern too complex")
	}
	for {
		if p >= len(ms.pat) {
			return s
		}
		switch ms.pat[p] {
		case '(':
			if ms.patAt(p+1) == ')' {
				return ms.startCapture(s, p+2, capPosition)
			}
			return ms.startCapture(s, p+1, capUnfinished)
		case ')':
			return ms.endCapture(s, p+1)
		case '%':
			switch next := ms.patAt(p + 1); {
			case next == 'b':
				s = ms.matchBalance(s, p+2)
				if s == -1 {
					return -1
				}
				p += 4
				continue
			case next == 'f':
				p += 2
				if ms.patAt(p) != '[' {
					ms.fail("missing '[' after '%%f' in pattern")
				}
				ep := ms.classEnd(p)
				var prev, cur byte
				if s > 0 {
					prev = ms.src[s-1]
				}
				if s < len(ms.src) {
					cur = ms.src[s]
				}
				if ms.matchBracketClass(prev, p, ep-1) || !ms.matchBracketClass(cur, p, ep-1) {
					return -1
				}
				p = ep
				continue
			case isLuaDigit(next):
				s = ms.matchCapture(s, next)
				if s == -1 {
					return -1
				}
				p += 2
				continue
			}
		case '$':
			if p+1 == len(ms.pat) {
				if s == len(ms.src) {
					return s
				}
				return -1
			}
		}
		// default: a single char class, possibly followed by a quantifier
		ep := ms.classEnd(p)
		m := ms.singleMatch(s, p, ep)
		switch ms.patAt(ep) {
		case '?':
			if ep < len(ms.pat) {
				if m {
					if res := ms.match(s+1, ep+1); res != -1 {
						return res
					}
				}
				p = ep + 1
				continue
			}
		case '*':
			if ep < len(ms.pat) {
				return ms.maxExpand(s, p, ep)
			}
		case '+':
			if ep < len(ms.pat) {
				if !m {
					return -1
				}
				return ms.maxExpand(s+1, p, ep)
			}
		case '-':
			if ep < len(ms.pat) {
				return ms.minExpand(s, p, ep)
			}
		}
		if !m {
			return -1
		}
		s++
		p = ep
	}
}

// isLuaPatternError reports whether err came from a malformed pattern.
func isLuaPatternError(err error) bool {
	var pe *LuaPatternError
	return errors.As(err, &pe)
}
