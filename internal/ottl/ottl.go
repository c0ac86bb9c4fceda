// Package ottl reads and evaluates conditions in a subset of the OpenTelemetry Transformation
// Language: the part the filter processor and the routing connector need, checked when the
// configuration loads so that evaluating never fails on data.
//
// Supported: paths (name, kind, status.code, attributes["k"], resource.attributes["k"],
// instrumentation_scope.name, start_time_unix_nano, end_time_unix_nano, start_time, end_time,
// severity_number, severity_text, body, metric.name, value_int, value_double, … as the
// context offers them), literals (strings, integers, floats, true, false, nil), the enums
// SPAN_KIND_*, STATUS_CODE_* and SEVERITY_NUMBER_*, + and - on numbers and times, the
// comparisons == != < <= > >=, not, and, or, parentheses, and the functions IsMatch(target,
// "regexp") and Duration("1s").
package ottl

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Path names a value of the item being evaluated: Parts are the dotted names, Key the map key
// of an attributes["key"] path ("" when none).
type Path struct {
	Parts  []string
	Key    string
	HasKey bool
}

func (p Path) String() string {
	s := strings.Join(p.Parts, ".")
	if p.HasKey {
		s += fmt.Sprintf("[%q]", p.Key)
	}
	return s
}

// Getter reads a path's value from an item; ok is false when it is absent (nil in OTTL).
type Getter[I any] func(item I) (v Value, ok bool)

// Value is a value a condition computes with.
type Value struct {
	kind kind
	s    string
	i    int64
	f    float64
	b    bool
}

type kind uint8

const (
	kNil kind = iota
	kStr
	kInt
	kFloat
	kBool
	kOther // maps, slices, bytes: comparable only for equality, by their string form
)

// Str, Int, Float and Bool make values.
func Str(s string) Value    { return Value{kind: kStr, s: s} }
func Int(i int64) Value     { return Value{kind: kInt, i: i} }
func Float(f float64) Value { return Value{kind: kFloat, f: f} }
func Bool(b bool) Value     { return Value{kind: kBool, b: b} }
func other(s string) Value  { return Value{kind: kOther, s: s} }

// FromPdata converts an attribute value.
func FromPdata(v pcommon.Value) Value {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return Str(v.Str())
	case pcommon.ValueTypeInt:
		return Int(v.Int())
	case pcommon.ValueTypeDouble:
		return Float(v.Double())
	case pcommon.ValueTypeBool:
		return Bool(v.Bool())
	case pcommon.ValueTypeEmpty:
		return Value{}
	}
	return other(v.AsString())
}

// Condition is a parsed condition over items of type I.
type Condition[I any] struct {
	src  string
	eval func(I) Value
}

// String is the source text.
func (c *Condition[I]) String() string { return c.src }

// Eval reports whether the item meets the condition.
func (c *Condition[I]) Eval(item I) bool {
	v := c.eval(item)
	return v.kind == kBool && v.b
}

// Resolver finds the getter of a path for items of type I.
type Resolver[I any] func(p Path) (Getter[I], error)

// Parse reads a condition; resolve decides which paths exist.
func Parse[I any](src string, resolve Resolver[I]) (*Condition[I], error) {
	toks, err := lex(src)
	if err != nil {
		return nil, fmt.Errorf("condition %q: %w", src, err)
	}
	p := &parser[I]{toks: toks, resolve: resolve}
	n, err := p.or()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	if err != nil {
		return nil, fmt.Errorf("condition %q: %w", src, err)
	}
	if n.typ != tBool && n.typ != tAny {
		return nil, fmt.Errorf("condition %q: is not true or false (a comparison, IsMatch, or a boolean path)", src)
	}
	return &Condition[I]{src: src, eval: n.eval}, nil
}

// ParseAll parses several conditions, naming the index of each that fails.
func ParseAll[I any](key string, srcs []string, resolve Resolver[I]) ([]*Condition[I], error) {
	out := make([]*Condition[I], 0, len(srcs))
	for i, s := range srcs {
		c, err := Parse(s, resolve)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Any reports whether any condition holds.
func Any[I any](cs []*Condition[I], item I) bool {
	for _, c := range cs {
		if c.Eval(item) {
			return true
		}
	}
	return false
}

// Enums are the named constants conditions may use.
var enums = map[string]int64{
	"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
	"SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5,
	"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2,
	"SEVERITY_NUMBER_UNSPECIFIED": 0,
	"SEVERITY_NUMBER_TRACE":       1, "SEVERITY_NUMBER_TRACE2": 2, "SEVERITY_NUMBER_TRACE3": 3, "SEVERITY_NUMBER_TRACE4": 4,
	"SEVERITY_NUMBER_DEBUG": 5, "SEVERITY_NUMBER_DEBUG2": 6, "SEVERITY_NUMBER_DEBUG3": 7, "SEVERITY_NUMBER_DEBUG4": 8,
	"SEVERITY_NUMBER_INFO": 9, "SEVERITY_NUMBER_INFO2": 10, "SEVERITY_NUMBER_INFO3": 11, "SEVERITY_NUMBER_INFO4": 12,
	"SEVERITY_NUMBER_WARN": 13, "SEVERITY_NUMBER_WARN2": 14, "SEVERITY_NUMBER_WARN3": 15, "SEVERITY_NUMBER_WARN4": 16,
	"SEVERITY_NUMBER_ERROR": 17, "SEVERITY_NUMBER_ERROR2": 18, "SEVERITY_NUMBER_ERROR3": 19, "SEVERITY_NUMBER_ERROR4": 20,
	"SEVERITY_NUMBER_FATAL": 21, "SEVERITY_NUMBER_FATAL2": 22, "SEVERITY_NUMBER_FATAL3": 23, "SEVERITY_NUMBER_FATAL4": 24,
	"METRIC_DATA_TYPE_NONE": 0, "METRIC_DATA_TYPE_GAUGE": 1, "METRIC_DATA_TYPE_SUM": 2, "METRIC_DATA_TYPE_HISTOGRAM": 3,
	"METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM": 4, "METRIC_DATA_TYPE_SUMMARY": 5,
}

// Lexing.

type token struct {
	kind string // ident, string, int, float, op, punct
	text string
}

func lex(src string) ([]token, error) {
	var out []token
	for i := 0; i < len(src); {
		c := rune(src[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case strings.ContainsRune("[]().,", c):
			out = append(out, token{"punct", string(c)})
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
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			s, err := strconv.Unquote(src[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("bad string %s", src[i:j+1])
			}
			out = append(out, token{"string", s})
			i = j + 1
		case c == '=' || c == '!' || c == '<' || c == '>':
			if i+1 < len(src) && src[i+1] == '=' {
				out = append(out, token{"op", src[i : i+2]})
				i += 2
			} else if c == '<' || c == '>' {
				out = append(out, token{"op", string(c)})
				i++
			} else {
				return nil, fmt.Errorf("want == or != at offset %d", i)
			}
		case c == '+' || c == '-':
			out = append(out, token{"op", string(c)})
			i++
		case unicode.IsDigit(c):
			j := i
			isFloat := false
			for j < len(src) && (unicode.IsDigit(rune(src[j])) || src[j] == '.' || src[j] == 'e' || src[j] == 'E' ||
				((src[j] == '-' || src[j] == '+') && j > i && (src[j-1] == 'e' || src[j-1] == 'E'))) {
				if src[j] == '.' || src[j] == 'e' || src[j] == 'E' {
					isFloat = true
				}
				j++
			}
			k := "int"
			if isFloat {
				k = "float"
			}
			out = append(out, token{k, src[i:j]})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i + 1
			for j < len(src) && (unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j])) || src[j] == '_') {
				j++
			}
			out = append(out, token{"ident", src[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", c, i)
		}
	}
	return out, nil
}

// Parsing, into closures typed by what they yield.

type typ uint8

const (
	tAny typ = iota // a path: its type is known only per item
	tBool
	tNum
	tStr
	tNil
)

type node[I any] struct {
	typ  typ
	eval func(I) Value
}

type parser[I any] struct {
	toks    []token
	pos     int
	resolve Resolver[I]
}

func (p *parser[I]) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{}
}

func (p *parser[I]) accept(kind, text string) bool {
	t := p.peek()
	if t.kind == kind && t.text == text {
		p.pos++
		return true
	}
	return false
}

func (p *parser[I]) expect(kind, text string) error {
	if !p.accept(kind, text) {
		t := p.peek()
		if t.kind == "" {
			return fmt.Errorf("ends early, want %q", text)
		}
		return fmt.Errorf("want %q, got %q", text, t.text)
	}
	return nil
}

func (p *parser[I]) or() (node[I], error) {
	l, err := p.and()
	if err != nil {
		return l, err
	}
	for p.accept("ident", "or") {
		r, err := p.and()
		if err != nil {
			return r, err
		}
		if err := boolean(l, r); err != nil {
			return l, err
		}
		a, b := l.eval, r.eval
		l = node[I]{tBool, func(it I) Value { return Bool(truth(a(it)) || truth(b(it))) }}
	}
	return l, nil
}

func (p *parser[I]) and() (node[I], error) {
	l, err := p.not()
	if err != nil {
		return l, err
	}
	for p.accept("ident", "and") {
		r, err := p.not()
		if err != nil {
			return r, err
		}
		if err := boolean(l, r); err != nil {
			return l, err
		}
		a, b := l.eval, r.eval
		l = node[I]{tBool, func(it I) Value { return Bool(truth(a(it)) && truth(b(it))) }}
	}
	return l, nil
}

func boolean[I any](ns ...node[I]) error {
	for _, n := range ns {
		if n.typ != tBool && n.typ != tAny {
			return fmt.Errorf("and, or and not join conditions, not values")
		}
	}
	return nil
}

func truth(v Value) bool { return v.kind == kBool && v.b }

func (p *parser[I]) not() (node[I], error) {
	if p.accept("ident", "not") {
		n, err := p.not()
		if err != nil {
			return n, err
		}
		if err := boolean(n); err != nil {
			return n, err
		}
		f := n.eval
		return node[I]{tBool, func(it I) Value { return Bool(!truth(f(it))) }}, nil
	}
	return p.comparison()
}

func (p *parser[I]) comparison() (node[I], error) {
	l, err := p.sum()
	if err != nil {
		return l, err
	}
	t := p.peek()
	if t.kind != "op" || t.text == "+" || t.text == "-" {
		return l, nil
	}
	p.pos++
	r, err := p.sum()
	if err != nil {
		return r, err
	}
	op, a, b := t.text, l.eval, r.eval
	return node[I]{tBool, func(it I) Value { return Bool(compare(op, a(it), b(it))) }}, nil
}

func (p *parser[I]) sum() (node[I], error) {
	l, err := p.term()
	if err != nil {
		return l, err
	}
	for {
		t := p.peek()
		if t.kind != "op" || (t.text != "+" && t.text != "-") {
			return l, nil
		}
		p.pos++
		r, err := p.term()
		if err != nil {
			return r, err
		}
		for _, n := range []node[I]{l, r} {
			if n.typ != tNum && n.typ != tAny {
				return l, fmt.Errorf("%s needs numbers or times", t.text)
			}
		}
		minus, a, b := t.text == "-", l.eval, r.eval
		l = node[I]{tNum, func(it I) Value { return arith(minus, a(it), b(it)) }}
	}
}

func (p *parser[I]) term() (node[I], error) {
	t := p.peek()
	switch t.kind {
	case "":
		return node[I]{}, fmt.Errorf("ends early")
	case "string":
		p.pos++
		v := Str(t.text)
		return node[I]{tStr, func(I) Value { return v }}, nil
	case "int":
		p.pos++
		i, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return node[I]{}, fmt.Errorf("bad integer %q", t.text)
		}
		v := Int(i)
		return node[I]{tNum, func(I) Value { return v }}, nil
	case "float":
		p.pos++
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return node[I]{}, fmt.Errorf("bad number %q", t.text)
		}
		v := Float(f)
		return node[I]{tNum, func(I) Value { return v }}, nil
	case "op":
		if t.text == "-" {
			p.pos++
			n, err := p.term()
			if err != nil {
				return n, err
			}
			f := n.eval
			return node[I]{tNum, func(it I) Value { return arith(true, Int(0), f(it)) }}, nil
		}
	case "punct":
		if t.text == "(" {
			p.pos++
			n, err := p.or()
			if err != nil {
				return n, err
			}
			return n, p.expect("punct", ")")
		}
	case "ident":
		return p.ident()
	}
	return node[I]{}, fmt.Errorf("unexpected %q", t.text)
}

func (p *parser[I]) ident() (node[I], error) {
	t := p.toks[p.pos]
	p.pos++
	switch t.text {
	case "true", "false":
		v := Bool(t.text == "true")
		return node[I]{tBool, func(I) Value { return v }}, nil
	case "nil":
		return node[I]{tNil, func(I) Value { return Value{} }}, nil
	}
	if n, ok := enums[t.text]; ok {
		v := Int(n)
		return node[I]{tNum, func(I) Value { return v }}, nil
	}
	if p.peek().kind == "punct" && p.peek().text == "(" {
		return p.call(t.text)
	}
	path := Path{Parts: []string{t.text}}
	for p.accept("punct", ".") {
		n := p.peek()
		if n.kind != "ident" {
			return node[I]{}, fmt.Errorf("want a name after %q", path.String()+".")
		}
		p.pos++
		path.Parts = append(path.Parts, n.text)
	}
	if p.accept("punct", "[") {
		k := p.peek()
		if k.kind != "string" {
			return node[I]{}, fmt.Errorf("want a quoted key in %s[...]", path.String())
		}
		p.pos++
		path.Key, path.HasKey = k.text, true
		if err := p.expect("punct", "]"); err != nil {
			return node[I]{}, err
		}
	}
	get, err := p.resolve(path)
	if err != nil {
		return node[I]{}, err
	}
	return node[I]{tAny, func(it I) Value {
		v, ok := get(it)
		if !ok {
			return Value{}
		}
		return v
	}}, nil
}

func (p *parser[I]) call(name string) (node[I], error) {
	p.pos++ // (
	var args []node[I]
	if !p.accept("punct", ")") {
		for {
			a, err := p.or()
			if err != nil {
				return a, err
			}
			args = append(args, a)
			if p.accept("punct", ")") {
				break
			}
			if err := p.expect("punct", ","); err != nil {
				return a, err
			}
		}
	}
	switch name {
	case "IsMatch":
		if len(args) != 2 || args[1].typ != tStr {
			return node[I]{}, fmt.Errorf(`IsMatch takes a value and a quoted regular expression: IsMatch(name, "^GET ")`)
		}
		re, err := regexp.Compile(args[1].eval(*new(I)).s)
		if err != nil {
			return node[I]{}, fmt.Errorf("IsMatch: %w", err)
		}
		f := args[0].eval
		return node[I]{tBool, func(it I) Value {
			v := f(it)
			switch v.kind {
			case kStr, kOther:
				return Bool(re.MatchString(v.s))
			case kInt:
				return Bool(re.MatchString(strconv.FormatInt(v.i, 10)))
			case kFloat:
				return Bool(re.MatchString(strconv.FormatFloat(v.f, 'f', -1, 64)))
			case kBool:
				return Bool(re.MatchString(strconv.FormatBool(v.b)))
			}
			return Bool(false)
		}}, nil
	case "Duration":
		if len(args) != 1 || args[0].typ != tStr {
			return node[I]{}, fmt.Errorf(`Duration takes a quoted duration: Duration("1s")`)
		}
		d, err := time.ParseDuration(args[0].eval(*new(I)).s)
		if err != nil {
			return node[I]{}, fmt.Errorf("Duration: %w", err)
		}
		v := Int(int64(d))
		return node[I]{tNum, func(I) Value { return v }}, nil
	}
	return node[I]{}, fmt.Errorf("function %s is not supported (supported: IsMatch, Duration)", name)
}

// Evaluation.

func num(v Value) (float64, bool) {
	switch v.kind {
	case kInt:
		return float64(v.i), true
	case kFloat:
		return v.f, true
	}
	return 0, false
}

func arith(minus bool, a, b Value) Value {
	if a.kind == kInt && b.kind == kInt {
		if minus {
			return Int(a.i - b.i)
		}
		return Int(a.i + b.i)
	}
	x, ok1 := num(a)
	y, ok2 := num(b)
	if !ok1 || !ok2 {
		return Value{}
	}
	if minus {
		return Float(x - y)
	}
	return Float(x + y)
}

// compare follows OTTL: values of different kinds are unequal and never ordered (integers and
// floats compare as numbers), nil equals only nil.
func compare(op string, a, b Value) bool {
	var c int
	switch {
	case a.kind == kNil || b.kind == kNil:
		eq := a.kind == b.kind
		switch op {
		case "==":
			return eq
		case "!=":
			return !eq
		}
		return false
	case a.kind == kInt && b.kind == kInt:
		c = cmp3(a.i, b.i)
	case (a.kind == kInt || a.kind == kFloat) && (b.kind == kInt || b.kind == kFloat):
		x, _ := num(a)
		y, _ := num(b)
		c = cmp3(x, y)
	case a.kind != b.kind:
		return op == "!="
	case a.kind == kStr || a.kind == kOther:
		c = strings.Compare(a.s, b.s)
	case a.kind == kBool:
		if op != "==" && op != "!=" {
			return false
		}
		if a.b == b.b {
			c = 0
		} else {
			c = 1
		}
	}
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

func cmp3[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
