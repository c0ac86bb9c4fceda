package otlpwire

import (
	"errors"
	"strconv"
	"strings"
)

// ErrMalformed is matched (errors.Is) by every error Scan, DropInvalid and Split return for a
// body that is not a well-formed OTLP export request.
var ErrMalformed = errors.New("malformed OTLP payload")

// MalformedError says where a body is malformed and what is wrong there.
type MalformedError struct {
	// Path names the offending element, e.g. "resource_spans[0].scope_spans[1].spans[3].trace_id";
	// empty when the problem is in the request message itself.
	Path string
	// Problem describes what is wrong, e.g. "length 15, want 16".
	Problem string
}

func (e *MalformedError) Error() string {
	if e.Path == "" {
		return ErrMalformed.Error() + ": " + e.Problem
	}
	return ErrMalformed.Error() + ": " + e.Path + ": " + e.Problem
}

// Unwrap makes errors.Is(err, ErrMalformed) hold.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

// pathSeg is one step of an error path: a field name, with an index for repeated fields.
type pathSeg struct {
	name  string
	index int // -1 when the field is not repeated
}

// wireErr is the internal form of a MalformedError while the walk unwinds: each level pushes its
// own segment, so that the success path never builds paths. Only errors allocate.
type wireErr struct {
	segs    []pathSeg // innermost first
	problem string
}

func problemf(problem string) *wireErr { return &wireErr{problem: problem} }

// push prepends a path segment (callers unwind from the inside out).
func (e *wireErr) push(name string, index int) *wireErr {
	e.segs = append(e.segs, pathSeg{name: name, index: index})
	return e
}

func (e *wireErr) public() *MalformedError {
	var b strings.Builder
	for i := len(e.segs) - 1; i >= 0; i-- {
		s := e.segs[i]
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		}
	}
	return &MalformedError{Path: b.String(), Problem: e.problem}
}
