// Package otlpwire validates, counts, filters, splits and reads OTLP export requests in
// protobuf wire form without decoding them into a data model.
//
// ReadResources is a read-only view of a request (view.go): resources, scopes, spans, metrics
// and their points, log records and every attribute, read in place without allocating.
//
// Scan walks every byte of an Export{Trace,Metrics,Logs}ServiceRequest against the OTLP schema
// and is at least as strict as pdata's decoder: a body Scan accepts, pdata decodes, with the
// same item count. It does not allocate when the body is valid. DropInvalid and Split rewrite a
// request by copying whole item messages and rebuilding the resource and scope envelopes
// around them.
package otlpwire

import (
	"fmt"
	"strconv"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// maxDepth bounds message nesting (AnyValue arrays and maps nest freely), so that a hostile
// body cannot exhaust the stack. The request itself is depth 0, a span depth 3.
const maxDepth = 100

// Summary describes a well-formed request.
type Summary struct {
	// Resources is the number of ResourceSpans/ResourceMetrics/ResourceLogs.
	Resources int
	// Scopes is the number of ScopeSpans/ScopeMetrics/ScopeLogs.
	Scopes int
	// Items is the number of spans, metric data points or log records, invalid spans included.
	Items int
	// Invalid is the number of spans whose trace_id or span_id is missing or all zeros: well
	// formed, but not acceptable (see DropInvalid). Always 0 for metrics and logs.
	Invalid int
}

// Scan checks that body is a well-formed export request of signal sig and counts what it holds.
// A malformed body yields an error matching ErrMalformed, of type *MalformedError, that names
// the path and the problem.
func Scan(sig pipeline.Signal, body []byte) (Summary, error) {
	w := walker{}
	if err := w.init(sig); err != nil {
		return Summary{}, err
	}
	if e := w.request(body); e != nil {
		return Summary{}, e.public()
	}
	return w.sum, nil
}

// sigNames are the field names of one signal's envelope, for error paths.
type sigNames struct {
	resources, scopes, deprecatedScopes, items string
}

var names = [...]sigNames{
	pipeline.SignalTraces:  {"resource_spans", "scope_spans", "instrumentation_library_spans", "spans"},
	pipeline.SignalMetrics: {"resource_metrics", "scope_metrics", "instrumentation_library_metrics", "metrics"},
	pipeline.SignalLogs:    {"resource_logs", "scope_logs", "instrumentation_library_logs", "log_records"},
}

// Envelope field numbers, the same for the three signals.
const (
	fRequestResources = 1 // Export*ServiceRequest.resource_*
	fResource         = 1 // Resource*.resource
	fScopes           = 2 // Resource*.scope_*
	fSchemaURL        = 3 // Resource*.schema_url and Scope*.schema_url
	fDeprecatedScopes = 1000
	fScope            = 1 // Scope*.scope
	fItems            = 2 // Scope*.spans / metrics / log_records
)

// walker walks the envelope of one request; lay, when set, records where everything is.
type walker struct {
	sig   pipeline.Signal
	names *sigNames
	lay   *layout
	sum   Summary
	// shallow skips checking spans and log records (a body already validated): only their
	// bounds are recorded. Metrics are still walked, for their data point counts.
	shallow bool
}

func (w *walker) init(sig pipeline.Signal) error {
	if sig < pipeline.SignalTraces || sig > pipeline.SignalLogs {
		return fmt.Errorf("otlpwire: unsupported signal %v", sig)
	}
	w.sig, w.names = sig, &names[sig]
	return nil
}

func (w *walker) request(b []byte) *wireErr {
	for pos := 0; pos < len(b); {
		tagPos := pos
		num, wt, next, e := readTag(b, pos)
		if e != nil {
			return e
		}
		if num != fRequestResources {
			if pos, e = skipValue(b, next, num, wt); e != nil {
				return e
			}
			continue
		}
		if wt != wtLen {
			return wrongWire(wt, wtLen).push(w.names.resources, occurrence(b, tagPos, num))
		}
		start, end, e := readLen(b, next)
		if e == nil {
			e = w.resource(b[start:end], start)
		}
		if e != nil {
			return e.push(w.names.resources, occurrence(b, tagPos, num))
		}
		w.sum.Resources++
		pos = end
	}
	return nil
}

// groupCount tallies the scopes of one resource.
type groupCount struct {
	scopes, items, invalid int
}

// resource walks one Resource{Spans,Metrics,Logs} found at body[base:base+len(b)].
//
// Scopes under the deprecated field 1000 count only when the resource has no scope under field
// 2: that is how pdata migrates instrumentation_library_* (and then discards the rest).
func (w *walker) resource(b []byte, base int) *wireErr {
	var cur, dep groupCount
	var res resLayout
	if w.lay != nil {
		res = resLayout{hdrFrom: len(w.lay.resHdrs), scopeFrom: len(w.lay.scopes)}
	}
	for pos := 0; pos < len(b); {
		tagPos := pos
		num, wt, next, e := readTag(b, pos)
		if e != nil {
			return e
		}
		switch num {
		case fScopes, fDeprecatedScopes:
			name := w.names.scopes
			if num == fDeprecatedScopes {
				name = w.names.deprecatedScopes
			}
			if wt != wtLen {
				return wrongWire(wt, wtLen).push(name, occurrence(b, tagPos, num))
			}
			start, end, e := readLen(b, next)
			var c groupCount
			if e == nil {
				c, e = w.scope(b[start:end], base+start, num == fDeprecatedScopes)
			}
			if e != nil {
				return e.push(name, occurrence(b, tagPos, num))
			}
			if num == fScopes {
				cur.scopes++
				cur.items += c.items
				cur.invalid += c.invalid
			} else {
				dep.scopes++
				dep.items += c.items
				dep.invalid += c.invalid
			}
			pos = end
			continue
		case fResource:
			if wt != wtLen {
				return wrongWire(wt, wtLen).push("resource", -1)
			}
			start, end, e := readLen(b, next)
			if e == nil {
				_, e = walkMsg(mResource, b[start:end], 2)
			}
			if e != nil {
				return e.push("resource", -1)
			}
			pos = end
		case fSchemaURL:
			if wt != wtLen {
				return wrongWire(wt, wtLen).push("schema_url", -1)
			}
			_, end, e := readLen(b, next)
			if e != nil {
				return e.push("schema_url", -1)
			}
			pos = end
		default:
			if pos, e = skipValue(b, next, num, wt); e != nil {
				return e
			}
		}
		if w.lay != nil { // every field but the scopes is envelope, copied as is
			w.lay.resHdrs = append(w.lay.resHdrs, span{base + tagPos, base + pos})
		}
	}
	useDeprecated := cur.scopes == 0
	if useDeprecated {
		cur = dep
	}
	w.sum.Scopes += cur.scopes
	w.sum.Items += cur.items
	w.sum.Invalid += cur.invalid
	if w.lay != nil {
		if !useDeprecated && dep.scopes > 0 {
			w.lay.dropDeprecatedScopes(res.scopeFrom)
		}
		res.hdrTo, res.scopeTo = len(w.lay.resHdrs), len(w.lay.scopes)
		w.lay.res = append(w.lay.res, res)
	}
	return nil
}

// scope walks one Scope{Spans,Metrics,Logs} found at body[base:base+len(b)].
func (w *walker) scope(b []byte, base int, deprecated bool) (groupCount, *wireErr) {
	var c groupCount
	var sc scopeLayout
	if w.lay != nil {
		sc = scopeLayout{hdrFrom: len(w.lay.scopeHdrs), itemFrom: len(w.lay.items), deprecated: deprecated}
	}
	for pos := 0; pos < len(b); {
		tagPos := pos
		num, wt, next, e := readTag(b, pos)
		if e != nil {
			return c, e
		}
		switch num {
		case fItems:
			if wt != wtLen {
				return c, wrongWire(wt, wtLen).push(w.names.items, occurrence(b, tagPos, num))
			}
			start, end, e := readLen(b, next)
			var n int
			var valid bool
			if e == nil {
				n, valid, e = w.item(b[start:end])
			}
			if e != nil {
				return c, e.push(w.names.items, occurrence(b, tagPos, num))
			}
			c.items += n
			if !valid {
				c.invalid++
			}
			if w.lay != nil {
				w.lay.items = append(w.lay.items, itemLayout{off: base + start, end: base + end, n: n, invalid: !valid})
			}
			pos = end
			continue
		case fScope:
			if wt != wtLen {
				return c, wrongWire(wt, wtLen).push("scope", -1)
			}
			start, end, e := readLen(b, next)
			if e == nil {
				_, e = walkMsg(mScope, b[start:end], 3)
			}
			if e != nil {
				return c, e.push("scope", -1)
			}
			pos = end
		case fSchemaURL:
			if wt != wtLen {
				return c, wrongWire(wt, wtLen).push("schema_url", -1)
			}
			_, end, e := readLen(b, next)
			if e != nil {
				return c, e.push("schema_url", -1)
			}
			pos = end
		default:
			if pos, e = skipValue(b, next, num, wt); e != nil {
				return c, e
			}
		}
		if w.lay != nil {
			w.lay.scopeHdrs = append(w.lay.scopeHdrs, span{base + tagPos, base + pos})
		}
	}
	if w.lay != nil {
		sc.hdrTo, sc.itemTo = len(w.lay.scopeHdrs), len(w.lay.items)
		w.lay.scopes = append(w.lay.scopes, sc)
	}
	return c, nil
}

// item walks one span, metric or log record and returns its item count and validity.
func (w *walker) item(b []byte) (n int, valid bool, e *wireErr) {
	const depth = 3
	if w.shallow && w.sig != pipeline.SignalMetrics {
		return 1, true, nil
	}
	switch w.sig {
	case pipeline.SignalTraces:
		valid, e = scanSpan(b, depth)
		return 1, valid, e
	case pipeline.SignalMetrics:
		n, e = walkMsg(mMetric, b, depth)
		return n, true, e
	default:
		_, e = walkMsg(mLogRecord, b, depth)
		return 1, true, e
	}
}

// scanSpan walks a span and reports whether it has a non-zero trace_id and span_id. As in
// pdata, the last occurrence of a repeated scalar wins.
func scanSpan(b []byte, depth int) (valid bool, e *wireErr) {
	d := &descs[mSpan]
	var traceOK, spanOK bool
	for pos := 0; pos < len(b); {
		if n := plainSpanField(b, pos); n > 0 {
			switch b[pos] {
			case 1<<3 | wtLen:
				traceOK = !allZero(b[pos+2 : pos+n])
			case 2<<3 | wtLen:
				spanOK = !allZero(b[pos+2 : pos+n])
			}
			pos += n
			continue
		}
		tagPos := pos
		var num, wt, next int
		var e *wireErr
		if c := b[pos]; c < 0x80 && c >= 8 { // readTag's fast path, by hand: the hottest loop
			num, wt, next = int(c>>3), int(c&7), pos+1
		} else if num, wt, next, e = readTagSlow(b, pos); e != nil {
			return false, e
		}
		if num > maxKnownField || d.fields[num].kind == kUnknown {
			if pos, e = skipValue(b, next, num, wt); e != nil {
				return false, e
			}
			continue
		}
		fd := &d.fields[num]
		next, start, end, _, e := consumeField(fd, wt, b, next, depth)
		if e != nil {
			return false, e.push(fd.name, index(fd, b, tagPos, num))
		}
		switch num {
		case 1:
			traceOK = !allZero(b[start:end])
		case 2:
			spanOK = !allZero(b[start:end])
		}
		pos = next
	}
	return traceOK && spanOK, nil
}

// walkMsg walks message id in b and returns its item count: the number of counted fields
// (data_points), or for a Metric the count of its last data field.
func walkMsg(id msgID, b []byte, depth int) (n int, e *wireErr) {
	d := &descs[id]
	for pos := 0; pos < len(b); {
		tagPos := pos
		var num, wt, next int
		var e *wireErr
		if c := b[pos]; c < 0x80 && c >= 8 { // readTag's fast path, by hand: the hottest loop
			num, wt, next = int(c>>3), int(c&7), pos+1
		} else if num, wt, next, e = readTagSlow(b, pos); e != nil {
			return 0, e
		}
		if num > maxKnownField || d.fields[num].kind == kUnknown {
			if pos, e = skipValue(b, next, num, wt); e != nil {
				return 0, e
			}
			continue
		}
		fd := &d.fields[num]
		next, _, _, sub, e := consumeField(fd, wt, b, next, depth)
		if e != nil {
			return 0, e.push(fd.name, index(fd, b, tagPos, num))
		}
		if fd.counted {
			n++
		} else if fd.data {
			n = sub
		}
		pos = next
	}
	return n, nil
}

// consumeField checks the value of known field fd at b[pos:] and returns the position after
// it, the bounds of a length-delimited value and, for a message, its item count.
func consumeField(fd *fieldDesc, wt int, b []byte, pos, depth int) (next, start, end, n int, e *wireErr) {
	switch fd.kind {
	case kVarint:
		if wt != wtVarint {
			return 0, 0, 0, 0, wrongWire(wt, wtVarint)
		}
		_, next, e = readVarint(b, pos)
		return next, 0, 0, 0, e
	case kI64:
		if wt != wtI64 {
			return 0, 0, 0, 0, wrongWire(wt, wtI64)
		}
		next, e = skipFixed(b, pos, 8)
		return next, 0, 0, 0, e
	case kI32:
		if wt != wtI32 {
			return 0, 0, 0, 0, wrongWire(wt, wtI32)
		}
		next, e = skipFixed(b, pos, 4)
		return next, 0, 0, 0, e
	case kPackedI64:
		switch wt {
		case wtI64:
			next, e = skipFixed(b, pos, 8)
			return next, 0, 0, 0, e
		case wtLen:
			if start, end, e = readLen(b, pos); e != nil {
				return 0, 0, 0, 0, e
			}
			if (end-start)%8 != 0 {
				return 0, 0, 0, 0, problemf("packed fixed64 length " + strconv.Itoa(end-start) + " is not a multiple of 8")
			}
			return end, start, end, 0, nil
		}
		return 0, 0, 0, 0, wrongWire(wt, wtLen)
	case kPackedVarint:
		switch wt {
		case wtVarint:
			_, next, e = readVarint(b, pos)
			return next, 0, 0, 0, e
		case wtLen:
			if start, end, e = readLen(b, pos); e != nil {
				return 0, 0, 0, 0, e
			}
			for p := start; p < end; {
				if _, p, e = readVarint(b[:end], p); e != nil {
					return 0, 0, 0, 0, e
				}
			}
			return end, start, end, 0, nil
		}
		return 0, 0, 0, 0, wrongWire(wt, wtLen)
	}
	// Length-delimited kinds.
	if wt != wtLen {
		return 0, 0, 0, 0, wrongWire(wt, wtLen)
	}
	if pos < len(b) && b[pos] < 0x80 && int(b[pos]) < len(b)-pos { // readLen's fast path, by hand
		start, end = pos+1, pos+1+int(b[pos])
	} else if start, end, e = readLenSlow(b, pos); e != nil {
		return 0, 0, 0, 0, e
	}
	switch fd.kind {
	case kTraceID:
		if l := end - start; l != 0 && l != 16 {
			return 0, 0, 0, 0, problemf("length " + strconv.Itoa(l) + ", want 16")
		}
	case kSpanID:
		if l := end - start; l != 0 && l != 8 {
			return 0, 0, 0, 0, problemf("length " + strconv.Itoa(l) + ", want 8")
		}
	case kMsg:
		if depth >= maxDepth {
			return 0, 0, 0, 0, problemf("messages nested deeper than " + strconv.Itoa(maxDepth))
		}
		if fd.msg == mKeyValue && plainKeyValue(b[start:end]) {
			return end, start, end, 0, nil
		}
		if n, e = walkMsg(fd.msg, b[start:end], depth+1); e != nil {
			return 0, 0, 0, 0, e
		}
	}
	return end, start, end, n, nil
}

// index is the error-path index of a field: its occurrence number when repeated.
func index(fd *fieldDesc, b []byte, tagPos, num int) int {
	if !fd.repeated {
		return -1
	}
	return occurrence(b, tagPos, num)
}

func wrongWire(got, want int) *wireErr {
	return problemf("wire type " + strconv.Itoa(got) + " (" + wireTypeName(got) + "), want " +
		strconv.Itoa(want) + " (" + wireTypeName(want) + ")")
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// plainSpanField returns the encoded size of the span field at b[pos:] when it is one of the
// fields every span has, in its usual well-formed shape (one-byte tag and length, ids of the
// right length, plain attributes), or 0 to leave it to the schema walk.
func plainSpanField(b []byte, pos int) int {
	rest := len(b) - pos
	if rest < 2 {
		return 0
	}
	l := int(b[pos+1])
	switch b[pos] {
	case 1<<3 | wtLen: // trace_id
		if l == 16 && rest >= 18 {
			return 18
		}
	case 2<<3 | wtLen, 4<<3 | wtLen: // span_id, parent_span_id
		if l == 8 && rest >= 10 {
			return 10
		}
	case 5<<3 | wtLen: // name
		if l < 0x80 && l <= rest-2 {
			return 2 + l
		}
	case 6<<3 | wtVarint: // kind
		if l < 0x80 {
			return 2
		}
	case 7<<3 | wtI64, 8<<3 | wtI64: // start and end times
		if rest >= 9 {
			return 9
		}
	case 9<<3 | wtLen: // attributes
		if l < 0x80 && l <= rest-2 && plainKeyValue(b[pos+2:pos+2+l]) {
			return 2 + l
		}
	}
	return 0
}

// plainKeyValue reports whether b is a KeyValue of the shape nearly every attribute has: a key
// and a string, bool, int, double or bytes value, each with one-byte tags and lengths. Such a
// KeyValue is well formed when its lengths and varints fit; anything else (arrays, maps, unknown
// fields, longer lengths, any doubt) is left to walkMsg, which also names what is wrong. Found
// in profiles: attributes are most of what a request holds, and the table walk costs a call per
// field.
func plainKeyValue(b []byte) bool {
	for pos := 0; pos < len(b); {
		if pos+1 >= len(b) || b[pos+1] >= 0x80 {
			return false
		}
		tag, l := b[pos], int(b[pos+1])
		pos += 2
		if l > len(b)-pos {
			return false
		}
		switch tag {
		case 1<<3 | wtLen: // key
		case 2<<3 | wtLen: // value
			if !plainAnyValue(b[pos : pos+l]) {
				return false
			}
		default:
			return false
		}
		pos += l
	}
	return true
}

// plainAnyValue is plainKeyValue's check of a scalar AnyValue.
func plainAnyValue(b []byte) bool {
	for pos := 0; pos < len(b); {
		tag := b[pos]
		pos++
		switch tag {
		case 1<<3 | wtLen, 7<<3 | wtLen: // string_value, bytes_value
			if pos >= len(b) || b[pos] >= 0x80 || int(b[pos]) > len(b)-pos-1 {
				return false
			}
			pos += 1 + int(b[pos])
		case 2<<3 | wtVarint, 3<<3 | wtVarint: // bool_value, int_value
			var e *wireErr
			if _, pos, e = readVarint(b, pos); e != nil {
				return false
			}
		case 4<<3 | wtI64: // double_value
			if len(b)-pos < 8 {
				return false
			}
			pos += 8
		default:
			return false
		}
	}
	return true
}
