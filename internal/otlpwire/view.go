package otlpwire

import (
	"encoding/binary"
	"math"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// The read view: iterate the resources, scopes and items of an export request in its wire
// bytes, without decoding it and without allocating. It is for stages that only look (RED
// metrics, sampling decisions, indexing, counting).
//
// Iterators are values with a Next method:
//
//	rs := otlpwire.ReadResources(pipeline.SignalTraces, body)
//	for rs.Next() {
//		svc, _ := rs.Resource().Attr("service.name")
//		scopes := rs.Scopes()
//		for scopes.Next() {
//			spans := scopes.Spans()
//			for spans.Next() {
//				sp := spans.Span()
//				_ = sp.Name()
//			}
//		}
//	}
//
// What it reports is what pdata decodes from the same bytes (the fuzzers check it): the last
// occurrence of a scalar wins, occurrences of a message field merge, the last field of a oneof
// wins, and a resource's scopes under the deprecated field 1000 count only when it has none
// under field 2. The view trusts its input: bytes the receivers validated (Scan). On malformed
// bytes it never panics; an iteration ends early and an accessor returns the zero value.
// Byte slices point into the body: valid while it is.

// field is one field read from a message.
type field struct {
	num, wt int
	v       uint64 // varint, fixed32 or fixed64 value
	b       []byte // length-delimited value
}

// readField reads the field at b[*pos:] and advances *pos; false on malformed bytes. The
// common case, a short length-delimited field, is inlined.
func readField(b []byte, pos *int) (field, bool) {
	p := *pos
	if p+1 < len(b) && b[p] >= 8 && b[p] < 0x80 && b[p]&7 == wtLen && b[p+1] < 0x80 {
		if end := p + 2 + int(b[p+1]); end <= len(b) {
			*pos = end
			return field{num: int(b[p] >> 3), wt: wtLen, b: b[p+2 : end]}, true
		}
	}
	return readFieldSlow(b, pos)
}

//go:noinline
func readFieldSlow(b []byte, pos *int) (field, bool) {
	num, wt, next, e := readTag(b, *pos)
	if e != nil {
		return field{}, false
	}
	f := field{num: num, wt: wt}
	switch wt {
	case wtVarint:
		f.v, next, e = readVarint(b, next)
		if e != nil {
			return field{}, false
		}
	case wtI64:
		if len(b)-next < 8 {
			return field{}, false
		}
		f.v = binary.LittleEndian.Uint64(b[next:])
		next += 8
	case wtI32:
		if len(b)-next < 4 {
			return field{}, false
		}
		f.v = uint64(binary.LittleEndian.Uint32(b[next:]))
		next += 4
	case wtLen:
		start, end, e := readLen(b, next)
		if e != nil {
			return field{}, false
		}
		f.b, next = b[start:end], end
	default:
		return field{}, false
	}
	*pos = next
	return f, true
}

// msgRef is a message in the wire: b itself (num 0), or the merge of every occurrence of
// field num in message b, as protobuf merges a singular message field that occurs twice.
type msgRef struct {
	b   []byte
	num int
}

// fields walks a message's fields, across every occurrence when merged.
type fields struct {
	parent []byte
	num    int
	ppos   int
	cur    []byte
	pos    int
}

func (m msgRef) fields() fields {
	if m.num == 0 {
		return fields{cur: m.b}
	}
	return fields{parent: m.b, num: m.num}
}

func (f *fields) next() (field, bool) {
	for {
		if f.pos < len(f.cur) {
			fl, ok := readField(f.cur, &f.pos)
			if ok {
				return fl, true
			}
			f.cur, f.pos, f.ppos = nil, 0, len(f.parent) // malformed: stop
			return field{}, false
		}
		if f.num == 0 || f.ppos >= len(f.parent) {
			return field{}, false
		}
		fl, ok := readField(f.parent, &f.ppos)
		if !ok {
			f.ppos = len(f.parent)
			return field{}, false
		}
		if fl.num == f.num && fl.wt == wtLen {
			f.cur, f.pos = fl.b, 0
		}
	}
}

// last returns the last field numbered num of wire type wt.
func (m msgRef) last(num, wt int) (field, bool) {
	var out field
	found := false
	it := m.fields()
	for {
		fl, ok := it.next()
		if !ok {
			return out, found
		}
		if fl.num == num {
			// A later occurrence of another wire type is a decode error for pdata; for the
			// view the last well-typed one stands.
			if fl.wt == wt {
				out, found = fl, true
			}
		}
	}
}

// lastOf returns the last field whose number is in the set (bit n for field n, n < 64): the
// member of a oneof that is set.
func (m msgRef) lastOf(set uint64) (field, bool) {
	var out field
	found := false
	it := m.fields()
	for {
		fl, ok := it.next()
		if !ok {
			return out, found
		}
		if fl.num < 64 && set&(1<<fl.num) != 0 {
			out, found = fl, true
		}
	}
}

func (m msgRef) bytes(num int) []byte {
	f, _ := m.last(num, wtLen)
	return f.b
}

func (m msgRef) varint(num int) uint64 {
	f, _ := m.last(num, wtVarint)
	return f.v
}

func (m msgRef) fixed64(num int) uint64 {
	f, _ := m.last(num, wtI64)
	return f.v
}

func (m msgRef) fixed32(num int) uint32 {
	f, _ := m.last(num, wtI32)
	return uint32(f.v)
}

// optDouble is an optional double (proto3 `optional`): set when the field occurs.
func (m msgRef) optDouble(num int) (float64, bool) {
	f, ok := m.last(num, wtI64)
	return math.Float64frombits(f.v), ok
}

// repeated iterates the occurrences of a repeated message field.
type repeated struct {
	f   fields
	num int
	cur []byte
}

func (m msgRef) repeated(num int) repeated { return repeated{f: m.fields(), num: num} }

func (r *repeated) next() bool {
	for {
		fl, ok := r.f.next()
		if !ok {
			r.cur = nil
			return false
		}
		if fl.num == r.num && fl.wt == wtLen {
			r.cur = fl.b
			return true
		}
	}
}

// Attributes iterates key-value pairs (resource, scope, item and point attributes, kvlist
// values). Duplicate keys are reported as they occur.
type Attributes struct{ r repeated }

// Next moves to the next pair.
func (a *Attributes) Next() bool { return a.r.next() }

// Key is the current pair's key.
func (a *Attributes) Key() []byte { return kvKey(a.r.cur) }

// Value is the current pair's value.
func (a *Attributes) Value() Value { return valueOf(msgRef{b: a.r.cur, num: 2}) }

// attr returns the value of the first pair with key, as pdata's Map.Get does.
func attr(m msgRef, num int, key string) (Value, bool) {
	a := Attributes{m.repeated(num)}
	for a.Next() {
		if k, v, ok := splitKV(a.r.cur); ok {
			if string(k) == key {
				return valueOf(msgRef{b: v}), true
			}
			continue
		}
		if string(kvKey(a.r.cur)) == key {
			return valueOf(msgRef{b: a.r.cur, num: 2}), true
		}
	}
	return Value{}, false
}

// splitKV reads a KeyValue encoded as encoders write it, key then value, each once and short
// (one-byte lengths); false for any other shape, which the general path reads.
func splitKV(kv []byte) (key, value []byte, ok bool) {
	if len(kv) < 4 || kv[0] != 1<<3|wtLen || kv[1] >= 0x80 {
		return nil, nil, false
	}
	kend := 2 + int(kv[1])
	if kend+2 > len(kv) || kv[kend] != 2<<3|wtLen || kv[kend+1] >= 0x80 || kend+2+int(kv[kend+1]) != len(kv) {
		return nil, nil, false
	}
	return kv[2:kend], kv[kend+2:], true
}

// kvKey is a KeyValue's key: its last key field.
func kvKey(kv []byte) []byte {
	if k, _, ok := splitKV(kv); ok {
		return k
	}
	var key []byte
	for pos := 0; pos < len(kv); {
		f, ok := readField(kv, &pos)
		if !ok {
			break
		}
		if f.num == 1 && f.wt == wtLen {
			key = f.b
		}
	}
	return key
}

// ValueType is the type of an attribute value.
type ValueType uint8

const (
	ValueEmpty ValueType = iota
	ValueStr
	ValueBool
	ValueInt
	ValueDouble
	ValueArray
	ValueMap
	ValueBytes
)

func (t ValueType) String() string {
	switch t {
	case ValueStr:
		return "Str"
	case ValueBool:
		return "Bool"
	case ValueInt:
		return "Int"
	case ValueDouble:
		return "Double"
	case ValueArray:
		return "Slice"
	case ValueMap:
		return "Map"
	case ValueBytes:
		return "Bytes"
	}
	return "Empty"
}

// Value is an attribute value (an OTLP AnyValue).
type Value struct {
	f   field
	typ ValueType
}

// AnyValue fields: string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7.
const anyValueFields = 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7

func valueOf(m msgRef) Value {
	f, ok := m.lastOf(anyValueFields)
	if !ok {
		return Value{}
	}
	want := [...]int{1: wtLen, 2: wtVarint, 3: wtVarint, 4: wtI64, 5: wtLen, 6: wtLen, 7: wtLen}
	if f.wt != want[f.num] {
		return Value{}
	}
	return Value{f: f, typ: ValueType(f.num)}
}

// Type is the value's type; ValueEmpty when unset.
func (v Value) Type() ValueType { return v.typ }

// Str is a string value's bytes (nil for other types).
func (v Value) Str() []byte {
	if v.typ != ValueStr {
		return nil
	}
	return v.f.b
}

// Bool is a bool value.
func (v Value) Bool() bool { return v.typ == ValueBool && v.f.v != 0 }

// Int is an int value.
func (v Value) Int() int64 {
	if v.typ != ValueInt {
		return 0
	}
	return int64(v.f.v)
}

// Double is a double value.
func (v Value) Double() float64 {
	if v.typ != ValueDouble {
		return 0
	}
	return math.Float64frombits(v.f.v)
}

// Bytes is a bytes value.
func (v Value) Bytes() []byte {
	if v.typ != ValueBytes {
		return nil
	}
	return v.f.b
}

// Slice iterates an array value's elements (nothing for other types).
func (v Value) Slice() Values {
	if v.typ != ValueArray {
		return Values{}
	}
	return Values{msgRef{b: v.f.b}.repeated(1)}
}

// Map iterates a kvlist value's pairs (nothing for other types).
func (v Value) Map() Attributes {
	if v.typ != ValueMap {
		return Attributes{}
	}
	return Attributes{msgRef{b: v.f.b}.repeated(1)}
}

// Values iterates the elements of an array value.
type Values struct{ r repeated }

// Next moves to the next element.
func (vs *Values) Next() bool { return vs.r.next() }

// Value is the current element.
func (vs *Values) Value() Value { return valueOf(msgRef{b: vs.r.cur}) }

// Request and envelope field numbers, the same for the three signals, are in scan.go.

// Resources iterates the resources of a request (ResourceSpans, ResourceMetrics or
// ResourceLogs).
type Resources struct {
	r   repeated
	sig pipeline.Signal
}

// ReadResources starts iterating body, an export request of signal sig.
func ReadResources(sig pipeline.Signal, body []byte) Resources {
	return Resources{r: msgRef{b: body}.repeated(fRequestResources), sig: sig}
}

// Next moves to the next resource.
func (rs *Resources) Next() bool { return rs.r.next() }

// Resource is the current resource.
func (rs *Resources) Resource() Resource { return Resource{msgRef{b: rs.r.cur, num: fResource}} }

// SchemaURL is the current resource's schema URL.
func (rs *Resources) SchemaURL() []byte { return msgRef{b: rs.r.cur}.bytes(fSchemaURL) }

// Scopes iterates the current resource's scopes.
func (rs *Resources) Scopes() Scopes {
	m := msgRef{b: rs.r.cur}
	num := fScopes
	if _, ok := m.last(fScopes, wtLen); !ok {
		num = fDeprecatedScopes // pdata migrates these only when there is no scope under 2
	}
	return Scopes{r: m.repeated(num)}
}

// Resource is a resource's description.
type Resource struct{ m msgRef }

// Attributes iterates the resource's attributes.
func (r Resource) Attributes() Attributes { return Attributes{r.m.repeated(1)} }

// Attr returns the value of attribute key.
func (r Resource) Attr(key string) (Value, bool) { return attr(r.m, 1, key) }

// DroppedAttributesCount is the resource's dropped_attributes_count.
func (r Resource) DroppedAttributesCount() uint32 { return uint32(r.m.varint(2)) }

// Scopes iterates the scopes of a resource (ScopeSpans, ScopeMetrics or ScopeLogs).
type Scopes struct{ r repeated }

// Next moves to the next scope.
func (ss *Scopes) Next() bool { return ss.r.next() }

// Scope is the current scope's instrumentation scope.
func (ss *Scopes) Scope() Scope { return Scope{msgRef{b: ss.r.cur, num: fScope}} }

// SchemaURL is the current scope's schema URL.
func (ss *Scopes) SchemaURL() []byte { return msgRef{b: ss.r.cur}.bytes(fSchemaURL) }

// Spans iterates the current scope's spans (a traces request).
func (ss *Scopes) Spans() Spans { return Spans{msgRef{b: ss.r.cur}.repeated(fItems)} }

// Metrics iterates the current scope's metrics (a metrics request).
func (ss *Scopes) Metrics() Metrics { return Metrics{msgRef{b: ss.r.cur}.repeated(fItems)} }

// LogRecords iterates the current scope's log records (a logs request).
func (ss *Scopes) LogRecords() LogRecords { return LogRecords{msgRef{b: ss.r.cur}.repeated(fItems)} }

// Scope is an instrumentation scope.
type Scope struct{ m msgRef }

// Name is the scope's name.
func (s Scope) Name() []byte { return s.m.bytes(1) }

// Version is the scope's version.
func (s Scope) Version() []byte { return s.m.bytes(2) }

// Attributes iterates the scope's attributes.
func (s Scope) Attributes() Attributes { return Attributes{s.m.repeated(3)} }

// Attr returns the value of attribute key.
func (s Scope) Attr(key string) (Value, bool) { return attr(s.m, 3, key) }

// ResourceOf reads a Resource message's value (as Edits.Item hands it).
func ResourceOf(value []byte) Resource { return Resource{msgRef{b: value}} }

// ScopeOf reads an InstrumentationScope message's value.
func ScopeOf(value []byte) Scope { return Scope{msgRef{b: value}} }
