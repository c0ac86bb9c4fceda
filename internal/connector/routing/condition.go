package routing

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// condition is a parsed routing condition: comparisons of a path with a literal, joined by
// "and" and "or" ("and" binds tighter), in the OTTL grammar the Collector's routing connector
// reads. Paths: attributes["key"], resource.attributes["key"], and name (span and metric
// contexts). Comparison is by type, as in OTTL: "5" does not equal 5.
type condition struct {
	or [][]comparison // any of these conjunctions
}

type comparison struct {
	path  path
	neq   bool
	value literal
}

type path struct {
	resource bool   // resource.attributes[...]
	name     bool   // name
	key      string // attribute key
}

type literal struct {
	kind pcommon.ValueType
	s    string
	i    int64
	f    float64
	b    bool
}

// lookup finds a path's value in the item being routed.
type lookup func(p path) (pcommon.Value, bool)

func (c condition) match(get lookup) bool {
	for _, and := range c.or {
		ok := true
		for _, cmp := range and {
			if !cmp.match(get) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (c comparison) match(get lookup) bool {
	v, ok := get(c.path)
	eq := ok && c.value.equal(v)
	return eq != c.neq
}

func (l literal) equal(v pcommon.Value) bool {
	switch l.kind {
	case pcommon.ValueTypeStr:
		return v.Type() == pcommon.ValueTypeStr && v.Str() == l.s
	case pcommon.ValueTypeBool:
		return v.Type() == pcommon.ValueTypeBool && v.Bool() == l.b
	case pcommon.ValueTypeInt:
		switch v.Type() {
		case pcommon.ValueTypeInt:
			return v.Int() == l.i
		case pcommon.ValueTypeDouble:
			return v.Double() == float64(l.i)
		}
	case pcommon.ValueTypeDouble:
		switch v.Type() {
		case pcommon.ValueTypeInt:
			return float64(v.Int()) == l.f
		case pcommon.ValueTypeDouble:
			return v.Double() == l.f
		}
	}
	return false
}

// parseCondition reads a condition; ctx is the routing context, which decides what
// "attributes" and "name" refer to.
func parseCondition(src, ctx string) (condition, error) {
	toks, err := tokenize(src)
	if err != nil {
		return condition{}, err
	}
	p := &parser{toks: toks, ctx: ctx}
	c, err := p.parse()
	if err != nil {
		return condition{}, fmt.Errorf("condition %q: %w", src, err)
	}
	return c, nil
}

type token struct {
	kind string // "ident", "string", "number", "op", "[", "]", "."
	text string
}

func tokenize(src string) ([]token, error) {
	var out []token
	for i := 0; i < len(src); {
		c := rune(src[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '[' || c == ']' || c == '.':
			out = append(out, token{string(c), string(c)})
			i++
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return nil, fmt.Errorf("condition %q: unterminated string", src)
			}
			s, err := strconv.Unquote(src[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("condition %q: bad string %s: %w", src, src[i:j+1], err)
			}
			out = append(out, token{"string", s})
			i = j + 1
		case c == '=' || c == '!':
			if i+1 < len(src) && src[i+1] == '=' {
				out = append(out, token{"op", src[i : i+2]})
				i += 2
				continue
			}
			return nil, fmt.Errorf("condition %q: want == or != at offset %d", src, i)
		case c == '-' || unicode.IsDigit(c):
			j := i + 1
			for j < len(src) && (unicode.IsDigit(rune(src[j])) || src[j] == '.' || src[j] == 'e' || src[j] == 'E') {
				j++
			}
			out = append(out, token{"number", src[i:j]})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i + 1
			for j < len(src) && (unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j])) || src[j] == '_') {
				j++
			}
			out = append(out, token{"ident", src[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("condition %q: unexpected %q at offset %d (supported: attributes[\"key\"] == \"value\", !=, and, or)", src, c, i)
		}
	}
	return out, nil
}

type parser struct {
	toks []token
	pos  int
	ctx  string
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{}
}

func (p *parser) next() token { t := p.peek(); p.pos++; return t }

func (p *parser) expect(kind string) (token, error) {
	t := p.next()
	if t.kind != kind {
		if t.kind == "" {
			return t, fmt.Errorf("ends early, want %s", kind)
		}
		return t, fmt.Errorf("want %s, got %q", kind, t.text)
	}
	return t, nil
}

func (p *parser) parse() (condition, error) {
	var c condition
	var and []comparison
	for {
		cmp, err := p.comparison()
		if err != nil {
			return c, err
		}
		and = append(and, cmp)
		t := p.next()
		switch {
		case t.kind == "":
			c.or = append(c.or, and)
			return c, nil
		case t.kind == "ident" && t.text == "and":
		case t.kind == "ident" && t.text == "or":
			c.or = append(c.or, and)
			and = nil
		default:
			return c, fmt.Errorf("want and, or or the end, got %q", t.text)
		}
	}
}

func (p *parser) comparison() (comparison, error) {
	var cmp comparison
	pth, err := p.path()
	if err != nil {
		return cmp, err
	}
	cmp.path = pth
	op, err := p.expect("op")
	if err != nil {
		return cmp, err
	}
	cmp.neq = op.text == "!="
	cmp.value, err = p.literal()
	return cmp, err
}

func (p *parser) path() (path, error) {
	t, err := p.expect("ident")
	if err != nil {
		return path{}, err
	}
	var pth path
	switch {
	case t.text == "resource":
		if _, err := p.expect("."); err != nil {
			return pth, err
		}
		if a, err := p.expect("ident"); err != nil || a.text != "attributes" {
			return pth, fmt.Errorf("want resource.attributes[\"key\"]")
		}
		pth.resource = true
	case t.text == "attributes":
		pth.resource = p.ctx == "resource"
	case t.text == "name" && (p.ctx == "span" || p.ctx == "metric"):
		pth.name = true
		return pth, nil
	default:
		return pth, fmt.Errorf("unsupported path %q in the %s context (supported: attributes[\"key\"], resource.attributes[\"key\"]%s)", t.text, p.ctx,
			map[bool]string{true: ", name"}[p.ctx == "span" || p.ctx == "metric"])
	}
	if _, err := p.expect("["); err != nil {
		return pth, err
	}
	k, err := p.expect("string")
	if err != nil {
		return pth, err
	}
	if _, err := p.expect("]"); err != nil {
		return pth, err
	}
	pth.key = k.text
	return pth, nil
}

func (p *parser) literal() (literal, error) {
	t := p.next()
	switch t.kind {
	case "string":
		return literal{kind: pcommon.ValueTypeStr, s: t.text}, nil
	case "number":
		if i, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			return literal{kind: pcommon.ValueTypeInt, i: i}, nil
		}
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return literal{}, fmt.Errorf("bad number %q", t.text)
		}
		return literal{kind: pcommon.ValueTypeDouble, f: f}, nil
	case "ident":
		switch strings.ToLower(t.text) {
		case "true":
			return literal{kind: pcommon.ValueTypeBool, b: true}, nil
		case "false":
			return literal{kind: pcommon.ValueTypeBool}, nil
		}
	}
	return literal{}, fmt.Errorf("want a string, number, true or false, got %q", t.text)
}
