package otlpwire

import "math"

// Spans iterates the spans of a scope.
type Spans struct{ r repeated }

// Next moves to the next span.
func (s *Spans) Next() bool { return s.r.next() }

// Span is the current span, its scalar fields read in one pass.
func (s *Spans) Span() Span { return decodeSpan(s.r.cur) }

// Span is one span.
type Span struct {
	m                                         msgRef
	traceID, spanID, traceState, parent, name []byte
	statusMsg                                 []byte
	start, end                                uint64
	kind, statusCode                          int32
	dropped, flags                            uint32
}

func decodeSpan(b []byte) Span {
	s := Span{m: msgRef{b: b}}
	for pos := 0; pos < len(b); {
		f, ok := readField(b, &pos)
		if !ok {
			break
		}
		switch {
		case f.wt == wtLen:
			switch f.num {
			case 1:
				s.traceID = f.b
			case 2:
				s.spanID = f.b
			case 3:
				s.traceState = f.b
			case 4:
				s.parent = f.b
			case 5:
				s.name = f.b
			case 15: // status: occurrences merge, the last of each field wins
				for p := 0; p < len(f.b); {
					g, ok := readField(f.b, &p)
					if !ok {
						break
					}
					if g.num == 3 && g.wt == wtVarint {
						s.statusCode = int32(g.v)
					} else if g.num == 2 && g.wt == wtLen {
						s.statusMsg = g.b
					}
				}
			}
		case f.wt == wtVarint && f.num == 6:
			s.kind = int32(f.v)
		case f.wt == wtVarint && f.num == 10:
			s.dropped = uint32(f.v)
		case f.wt == wtI64 && f.num == 7:
			s.start = f.v
		case f.wt == wtI64 && f.num == 8:
			s.end = f.v
		case f.wt == wtI32 && f.num == 16:
			s.flags = uint32(f.v)
		}
	}
	return s
}

// Bytes is the span's encoded message.
func (s Span) Bytes() []byte { return s.m.b }

// TraceID is the span's trace id (16 bytes when valid).
func (s Span) TraceID() []byte { return s.traceID }

// SpanID is the span's id (8 bytes when valid).
func (s Span) SpanID() []byte { return s.spanID }

// TraceState is the span's W3C tracestate.
func (s Span) TraceState() []byte { return s.traceState }

// ParentSpanID is the parent's span id; empty for a root span.
func (s Span) ParentSpanID() []byte { return s.parent }

// Name is the span's name.
func (s Span) Name() []byte { return s.name }

// Kind is the span's kind (0 unspecified, 1 internal, 2 server, 3 client, 4 producer,
// 5 consumer).
func (s Span) Kind() int32 { return s.kind }

// StartTime is the start in nanoseconds since the Unix epoch.
func (s Span) StartTime() uint64 { return s.start }

// EndTime is the end in nanoseconds since the Unix epoch.
func (s Span) EndTime() uint64 { return s.end }

// Attributes iterates the span's attributes.
func (s Span) Attributes() Attributes { return Attributes{s.m.repeated(9)} }

// Attr returns the value of attribute key.
func (s Span) Attr(key string) (Value, bool) { return attr(s.m, 9, key) }

// DroppedAttributesCount is the span's dropped_attributes_count.
func (s Span) DroppedAttributesCount() uint32 { return s.dropped }

// Events iterates the span's events.
func (s Span) Events() Events { return Events{s.m.repeated(11)} }

// Links iterates the span's links.
func (s Span) Links() Links { return Links{s.m.repeated(13)} }

// Status is the span's status code (0 unset, 1 ok, 2 error) and message.
func (s Span) Status() (code int32, message []byte) { return s.statusCode, s.statusMsg }

// Flags are the span's W3C trace flags and the parent-is-remote bits.
func (s Span) Flags() uint32 { return s.flags }

// Events iterates a span's events.
type Events struct{ r repeated }

// Next moves to the next event.
func (e *Events) Next() bool { return e.r.next() }

// Event is the current event.
func (e *Events) Event() Event { return Event{msgRef{b: e.r.cur}} }

// Event is one span event.
type Event struct{ m msgRef }

// Time is the event's time in nanoseconds since the Unix epoch.
func (e Event) Time() uint64 { return e.m.fixed64(1) }

// Name is the event's name ("exception", …).
func (e Event) Name() []byte { return e.m.bytes(2) }

// Attributes iterates the event's attributes.
func (e Event) Attributes() Attributes { return Attributes{e.m.repeated(3)} }

// Attr returns the value of attribute key.
func (e Event) Attr(key string) (Value, bool) { return attr(e.m, 3, key) }

// Links iterates a span's links.
type Links struct{ r repeated }

// Next moves to the next link.
func (l *Links) Next() bool { return l.r.next() }

// Link is the current link.
func (l *Links) Link() Link { return Link{msgRef{b: l.r.cur}} }

// Link is one span link.
type Link struct{ m msgRef }

// TraceID is the linked span's trace id.
func (l Link) TraceID() []byte { return l.m.bytes(1) }

// SpanID is the linked span's id.
func (l Link) SpanID() []byte { return l.m.bytes(2) }

// Attributes iterates the link's attributes.
func (l Link) Attributes() Attributes { return Attributes{l.m.repeated(4)} }

// Metrics iterates the metrics of a scope.
type Metrics struct{ r repeated }

// Next moves to the next metric.
func (m *Metrics) Next() bool { return m.r.next() }

// Metric is the current metric.
func (m *Metrics) Metric() Metric { return metricOf(m.r.cur) }

// MetricType is the kind of a metric's data.
type MetricType uint8

const (
	MetricEmpty MetricType = iota
	MetricGauge
	MetricSum
	MetricHistogram
	MetricExponentialHistogram
	MetricSummary
)

func (t MetricType) String() string {
	switch t {
	case MetricGauge:
		return "Gauge"
	case MetricSum:
		return "Sum"
	case MetricHistogram:
		return "Histogram"
	case MetricExponentialHistogram:
		return "ExponentialHistogram"
	case MetricSummary:
		return "Summary"
	}
	return "Empty"
}

// Metric data fields (a oneof): gauge 5, sum 7, histogram 9, exponential_histogram 10,
// summary 11.
const metricDataFields = 1<<5 | 1<<7 | 1<<9 | 1<<10 | 1<<11

// Metric is one metric.
type Metric struct {
	m                msgRef
	name, desc, unit []byte
	data             []byte // the message of the data oneof that is set
	typ              MetricType
}

func metricOf(b []byte) Metric {
	out := Metric{m: msgRef{b: b}}
	for pos := 0; pos < len(b); {
		f, ok := readField(b, &pos)
		if !ok {
			break
		}
		if f.wt != wtLen {
			continue
		}
		if f.num < 64 && metricDataFields&(1<<f.num) != 0 {
			out.data = f.b
		}
		switch f.num {
		case 1:
			out.name = f.b
		case 2:
			out.desc = f.b
		case 3:
			out.unit = f.b
		case 5:
			out.typ = MetricGauge
		case 7:
			out.typ = MetricSum
		case 9:
			out.typ = MetricHistogram
		case 10:
			out.typ = MetricExponentialHistogram
		case 11:
			out.typ = MetricSummary
		}
	}
	return out
}

// Name is the metric's name.
func (m Metric) Name() []byte { return m.name }

// Description is the metric's description.
func (m Metric) Description() []byte { return m.desc }

// Unit is the metric's unit.
func (m Metric) Unit() []byte { return m.unit }

// Type is the kind of the metric's data.
func (m Metric) Type() MetricType { return m.typ }

// Temporality is the aggregation temporality of a sum or histogram (0 unspecified, 1 delta,
// 2 cumulative).
func (m Metric) Temporality() int32 {
	switch m.typ {
	case MetricSum, MetricHistogram, MetricExponentialHistogram:
		return int32(msgRef{b: m.data}.varint(2))
	}
	return 0
}

// Monotonic reports whether a sum is monotonic.
func (m Metric) Monotonic() bool { return m.typ == MetricSum && msgRef{b: m.data}.varint(3) != 0 }

// Points iterates the metric's data points.
func (m Metric) Points() Points {
	if m.typ == MetricEmpty {
		return Points{}
	}
	return Points{r: msgRef{b: m.data}.repeated(1), typ: m.typ}
}

// Points iterates a metric's data points.
type Points struct {
	r   repeated
	typ MetricType
}

// Next moves to the next point.
func (p *Points) Next() bool { return p.r.next() }

// Point is the current point.
func (p *Points) Point() Point { return Point{m: msgRef{b: p.r.cur}, typ: p.typ} }

// Point is one data point of any metric type; the accessors that do not apply to its type
// return zero values.
type Point struct {
	m   msgRef
	typ MetricType
}

// attrField is the attributes' field number, which differs by point type.
func (p Point) attrField() int {
	switch p.typ {
	case MetricHistogram:
		return 9
	case MetricExponentialHistogram:
		return 1
	}
	return 7
}

// Attributes iterates the point's attributes.
func (p Point) Attributes() Attributes { return Attributes{p.m.repeated(p.attrField())} }

// Attr returns the value of attribute key.
func (p Point) Attr(key string) (Value, bool) { return attr(p.m, p.attrField(), key) }

// StartTime is the start of the point's aggregation in nanoseconds since the Unix epoch.
func (p Point) StartTime() uint64 { return p.m.fixed64(2) }

// Time is the point's time in nanoseconds since the Unix epoch.
func (p Point) Time() uint64 { return p.m.fixed64(3) }

// Flags are the point's flags (1: no recorded value).
func (p Point) Flags() uint32 {
	switch p.typ {
	case MetricHistogram, MetricExponentialHistogram:
		return uint32(p.m.varint(10))
	}
	return uint32(p.m.varint(8))
}

// NumberType tells how a gauge or sum point holds its value.
type NumberType uint8

const (
	NumberEmpty NumberType = iota
	NumberInt
	NumberDouble
)

// Number is a gauge or sum point's value: an int or a double (as_int 6, as_double 4, a oneof).
func (p Point) Number() (typ NumberType, i int64, d float64) {
	if p.typ != MetricGauge && p.typ != MetricSum {
		return NumberEmpty, 0, 0
	}
	f, ok := p.m.lastOf(1<<4 | 1<<6)
	if !ok || f.wt != wtI64 {
		return NumberEmpty, 0, 0
	}
	if f.num == 6 {
		return NumberInt, int64(f.v), 0
	}
	return NumberDouble, 0, math.Float64frombits(f.v)
}

// Count is a histogram, exponential histogram or summary point's count.
func (p Point) Count() uint64 {
	if p.typ < MetricHistogram {
		return 0
	}
	return p.m.fixed64(4)
}

// Sum is a histogram, exponential histogram or summary point's sum, and whether it is set
// (a summary's always is).
func (p Point) Sum() (float64, bool) {
	if p.typ < MetricHistogram {
		return 0, false
	}
	v, ok := p.m.optDouble(5)
	if p.typ == MetricSummary {
		return v, true
	}
	return v, ok
}

// Min is a histogram or exponential histogram point's minimum, when set.
func (p Point) Min() (float64, bool) {
	switch p.typ {
	case MetricHistogram:
		return p.m.optDouble(11)
	case MetricExponentialHistogram:
		return p.m.optDouble(12)
	}
	return 0, false
}

// Max is a histogram or exponential histogram point's maximum, when set.
func (p Point) Max() (float64, bool) {
	switch p.typ {
	case MetricHistogram:
		return p.m.optDouble(12)
	case MetricExponentialHistogram:
		return p.m.optDouble(13)
	}
	return 0, false
}

// BucketCounts iterates a histogram point's bucket counts.
func (p Point) BucketCounts() Uint64s {
	if p.typ != MetricHistogram {
		return Uint64s{}
	}
	return Uint64s{newPacked(p.m, 6, wtI64)}
}

// ExplicitBounds iterates a histogram point's bucket bounds.
func (p Point) ExplicitBounds() Float64s {
	if p.typ != MetricHistogram {
		return Float64s{}
	}
	return Float64s{newPacked(p.m, 7, wtI64)}
}

// Scale is an exponential histogram point's scale.
func (p Point) Scale() int32 {
	if p.typ != MetricExponentialHistogram {
		return 0
	}
	return zigzag32(p.m.varint(6))
}

// ZeroCount is an exponential histogram point's zero bucket count.
func (p Point) ZeroCount() uint64 {
	if p.typ != MetricExponentialHistogram {
		return 0
	}
	return p.m.fixed64(7)
}

// ZeroThreshold is an exponential histogram point's zero threshold.
func (p Point) ZeroThreshold() float64 {
	if p.typ != MetricExponentialHistogram {
		return 0
	}
	v, _ := p.m.optDouble(14)
	return v
}

// Positive is an exponential histogram point's positive buckets.
func (p Point) Positive() Buckets { return p.buckets(8) }

// Negative is an exponential histogram point's negative buckets.
func (p Point) Negative() Buckets { return p.buckets(9) }

func (p Point) buckets(num int) Buckets {
	if p.typ != MetricExponentialHistogram {
		return Buckets{}
	}
	return Buckets{msgRef{b: p.m.b, num: num}}
}

// Quantiles iterates a summary point's quantile values.
func (p Point) Quantiles() Quantiles {
	if p.typ != MetricSummary {
		return Quantiles{}
	}
	return Quantiles{p.m.repeated(6)}
}

// Buckets are one side of an exponential histogram point.
type Buckets struct{ m msgRef }

// Offset is the index of the first bucket.
func (b Buckets) Offset() int32 { return zigzag32(b.m.varint(1)) }

// Counts iterates the bucket counts.
func (b Buckets) Counts() Uint64s { return Uint64s{newPacked(b.m, 2, wtVarint)} }

// Quantiles iterates a summary point's quantile values.
type Quantiles struct{ r repeated }

// Next moves to the next quantile.
func (q *Quantiles) Next() bool { return q.r.next() }

// Quantile is the current quantile (0…1) and its value.
func (q *Quantiles) Quantile() (quantile, value float64) {
	m := msgRef{b: q.r.cur}
	return math.Float64frombits(m.fixed64(1)), math.Float64frombits(m.fixed64(2))
}

func zigzag32(v uint64) int32 { return int32(uint32(v>>1) ^ -uint32(v&1)) }

// packed iterates a repeated scalar field as pdata decodes it: a packed occurrence replaces
// what came before, an unpacked element is appended.
type packed struct {
	f     fields
	num   int
	elem  int // wire type of one element: wtVarint or wtI64
	chunk []byte
	pos   int
}

func newPacked(m msgRef, num, elem int) packed {
	p := packed{f: m.fields(), num: num, elem: elem}
	scan := m.fields()
	for {
		fl, ok := scan.next()
		if !ok {
			return p
		}
		if fl.num == num && fl.wt == wtLen {
			p.f, p.chunk = scan, fl.b // start after the last packed occurrence
		}
	}
}

func (p *packed) next() (uint64, bool) {
	if p.pos < len(p.chunk) {
		if p.elem == wtI64 {
			if len(p.chunk)-p.pos >= 8 {
				v := uint64(p.chunk[p.pos]) | uint64(p.chunk[p.pos+1])<<8 | uint64(p.chunk[p.pos+2])<<16 | uint64(p.chunk[p.pos+3])<<24 |
					uint64(p.chunk[p.pos+4])<<32 | uint64(p.chunk[p.pos+5])<<40 | uint64(p.chunk[p.pos+6])<<48 | uint64(p.chunk[p.pos+7])<<56
				p.pos += 8
				return v, true
			}
		} else if v, next, e := readVarint(p.chunk, p.pos); e == nil {
			p.pos = next
			return v, true
		}
		p.chunk, p.pos = nil, 0 // malformed
	}
	for {
		fl, ok := p.f.next()
		if !ok {
			return 0, false
		}
		if fl.num == p.num && fl.wt == p.elem {
			return fl.v, true
		}
	}
}

// Uint64s iterates unsigned integers (bucket counts).
type Uint64s struct{ p packed }

// Next returns the next value; false at the end.
func (u *Uint64s) Next() (uint64, bool) { return u.p.next() }

// Float64s iterates doubles (histogram bounds).
type Float64s struct{ p packed }

// Next returns the next value; false at the end.
func (f *Float64s) Next() (float64, bool) {
	v, ok := f.p.next()
	return math.Float64frombits(v), ok
}

// LogRecords iterates the log records of a scope.
type LogRecords struct{ r repeated }

// Next moves to the next record.
func (l *LogRecords) Next() bool { return l.r.next() }

// LogRecord is the current record, its scalar fields read in one pass.
func (l *LogRecords) LogRecord() LogRecord { return decodeLog(l.r.cur) }

// LogRecord is one log record.
type LogRecord struct {
	m                                   msgRef
	sevText, traceID, spanID, eventName []byte
	time, observed                      uint64
	sev                                 int32
	dropped, flags                      uint32
}

func decodeLog(b []byte) LogRecord {
	l := LogRecord{m: msgRef{b: b}}
	for pos := 0; pos < len(b); {
		f, ok := readField(b, &pos)
		if !ok {
			break
		}
		switch {
		case f.wt == wtLen:
			switch f.num {
			case 3:
				l.sevText = f.b
			case 9:
				l.traceID = f.b
			case 10:
				l.spanID = f.b
			case 12:
				l.eventName = f.b
			}
		case f.wt == wtI64 && f.num == 1:
			l.time = f.v
		case f.wt == wtI64 && f.num == 11:
			l.observed = f.v
		case f.wt == wtVarint && f.num == 2:
			l.sev = int32(f.v)
		case f.wt == wtVarint && f.num == 7:
			l.dropped = uint32(f.v)
		case f.wt == wtI32 && f.num == 8:
			l.flags = uint32(f.v)
		}
	}
	return l
}

// Time is when the event occurred, in nanoseconds since the Unix epoch (0: unknown).
func (l LogRecord) Time() uint64 { return l.time }

// ObservedTime is when the event was observed.
func (l LogRecord) ObservedTime() uint64 { return l.observed }

// SeverityNumber is the record's severity (1–4 trace … 21–24 fatal; 0 unspecified).
func (l LogRecord) SeverityNumber() int32 { return l.sev }

// SeverityText is the record's severity as the source spelled it.
func (l LogRecord) SeverityText() []byte { return l.sevText }

// Body is the record's body.
func (l LogRecord) Body() Value { return valueOf(msgRef{b: l.m.b, num: 5}) }

// Attributes iterates the record's attributes.
func (l LogRecord) Attributes() Attributes { return Attributes{l.m.repeated(6)} }

// Attr returns the value of attribute key.
func (l LogRecord) Attr(key string) (Value, bool) { return attr(l.m, 6, key) }

// DroppedAttributesCount is the record's dropped_attributes_count.
func (l LogRecord) DroppedAttributesCount() uint32 { return l.dropped }

// Flags are the record's W3C trace flags.
func (l LogRecord) Flags() uint32 { return l.flags }

// TraceID is the trace the record belongs to, if any.
func (l LogRecord) TraceID() []byte { return l.traceID }

// SpanID is the span the record belongs to, if any.
func (l LogRecord) SpanID() []byte { return l.spanID }

// EventName is the record's event name.
func (l LogRecord) EventName() []byte { return l.eventName }

// SpanOf reads a Span message's value.
func SpanOf(value []byte) Span { return decodeSpan(value) }

// LogRecordOf reads a LogRecord message's value.
func LogRecordOf(value []byte) LogRecord { return decodeLog(value) }
