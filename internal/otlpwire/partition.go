package otlpwire

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Item fields that carry a partition key.
const (
	fSpanTraceID = 1 // Span.trace_id
	fLogTraceID  = 9 // LogRecord.trace_id
)

// ErrPartOutOfRange is returned by Partition when keyOf names a part outside [0, n).
var ErrPartOutOfRange = errors.New("otlpwire: part index out of range")

// Partition sorts the items of a request into at most n parts by key, so that a load balancer
// can send each part where its key belongs. The key of an item is:
//
//   - traces: the span's trace_id, so every span of a trace lands in the same part;
//   - logs: the record's trace_id, or nil when it has none (all zeros or absent);
//   - metrics: the bytes of the resource's Resource message, so a resource's series stay
//     together (nil when the resource message is absent). Metrics are never cut finer.
//
// keyOf maps a key to a part index in [0, n); it is called once per run of equal keys and must
// return the same index for the same key within one call (the key slice is only valid during
// the call). Every part carries the resource and scope envelopes of what it holds, as in Split,
// and keeps its items in their original order.
//
// emit is called for every non-empty part, in increasing part index, with the items it holds.
// When every item falls into one part, emit receives body itself. Otherwise the parts are
// slices of one buffer allocated by this call and never reused, so emit may keep them. An
// error from emit stops Partition and is returned; a malformed body is an error matching
// ErrMalformed, and then emit is not called. A request without any item emits nothing.
func Partition(sig pipeline.Signal, body []byte, n int, keyOf func(key []byte) int, emit func(part int, body []byte, items int) error) error {
	if n < 1 {
		return fmt.Errorf("otlpwire: partition into %d parts", n)
	}
	var l layout
	if _, err := parse(sig, body, &l); err != nil {
		return err
	}
	if len(l.items) == 0 {
		return nil
	}
	p := partitioner{l: &l, n: n, keyOf: keyOf}
	if err := p.assign(sig); err != nil {
		return err
	}
	if p.used == 1 {
		for i, c := range p.items {
			if c > 0 {
				return emit(i, body, c)
			}
		}
	}
	return p.encode(emit)
}

type partitioner struct {
	l     *layout
	n     int
	keyOf func([]byte) int

	part      []int32 // per item: its part
	itemScope []int32 // per item: its scope
	scopeRes  []int32 // per scope: its resource
	items     []int   // per part: items (spans, points, records)
	msgs      []int   // per part: item messages
	used      int     // parts with at least one item message

	lastKey  []byte // the previous key and its part, to call keyOf once per run
	lastPart int
	haveLast bool
}

// assign gives every item message its part.
func (p *partitioner) assign(sig pipeline.Signal) error {
	l := p.l
	p.part = make([]int32, len(l.items))
	p.itemScope = make([]int32, len(l.items))
	p.scopeRes = make([]int32, len(l.scopes))
	p.items = make([]int, p.n)
	p.msgs = make([]int, p.n)
	for r := range l.res {
		rs := &l.res[r]
		var resKey []byte
		if sig == pipeline.SignalMetrics {
			resKey = p.resourceKey(rs)
		}
		for s := rs.scopeFrom; s < rs.scopeTo; s++ {
			sc := &l.scopes[s]
			p.scopeRes[s] = int32(r)
			for i := sc.itemFrom; i < sc.itemTo; i++ {
				it := &l.items[i]
				key := resKey
				switch sig {
				case pipeline.SignalTraces:
					key = lastLenField(l.body[it.off:it.end], fSpanTraceID)
				case pipeline.SignalLogs:
					key = lastLenField(l.body[it.off:it.end], fLogTraceID)
				}
				if allZero(key) {
					key = nil
				}
				part, err := p.partOf(key)
				if err != nil {
					return err
				}
				p.part[i], p.itemScope[i] = int32(part), int32(s)
				if p.msgs[part] == 0 {
					p.used++
				}
				p.msgs[part]++
				p.items[part] += it.n
			}
		}
	}
	return nil
}

func (p *partitioner) partOf(key []byte) (int, error) {
	if p.haveLast && bytes.Equal(key, p.lastKey) {
		return p.lastPart, nil
	}
	part := p.keyOf(key)
	if part < 0 || part >= p.n {
		return 0, fmt.Errorf("%w: %d not in [0, %d)", ErrPartOutOfRange, part, p.n)
	}
	p.lastKey, p.lastPart, p.haveLast = key, part, true
	return part, nil
}

// resourceKey is the value of the resource field among a resource's envelope fields.
func (p *partitioner) resourceKey(rs *resLayout) []byte {
	var key []byte
	for _, h := range p.l.resHdrs[rs.hdrFrom:rs.hdrTo] {
		b := p.l.body[h.off:h.end]
		num, wt, next, e := readTag(b, 0)
		if e != nil || num != fResource || wt != wtLen {
			continue
		}
		if start, end, e := readLen(b, next); e == nil {
			key = b[start:end] // the last one wins, as in pdata
		}
	}
	return key
}

// lastLenField returns the value of the last occurrence of length-delimited field num in msg,
// a message Scan already accepted; nil when absent.
func lastLenField(msg []byte, num int) []byte {
	var v []byte
	for pos := 0; pos < len(msg); {
		f, wt, next, e := readTag(msg, pos)
		if e != nil {
			return v
		}
		if f == num && wt == wtLen {
			start, end, e := readLen(msg, next)
			if e != nil {
				return v
			}
			v, pos = msg[start:end], end
			continue
		}
		if pos, e = skipValue(msg, next, f, wt); e != nil {
			return v
		}
	}
	return v
}

// encode writes every part into one buffer, then emits them.
func (p *partitioner) encode(emit func(int, []byte, int) error) error {
	// Counting sort of the item indexes by part; each part keeps the original order.
	start := make([]int, p.n+1)
	for part, m := range p.msgs {
		start[part+1] = start[part] + m
	}
	order := make([]int32, len(p.part))
	next := append([]int(nil), start[:p.n]...)
	for i, part := range p.part {
		order[next[part]] = int32(i)
		next[part]++
	}
	out := make([]byte, 0, len(p.l.body)+p.used*64)
	bounds := make([]int, p.n+1)
	var sizes []int
	for part := range p.n {
		bounds[part] = len(out)
		if p.msgs[part] > 0 {
			out, sizes = p.appendPart(out, order[start[part]:start[part+1]], sizes[:0])
		}
	}
	bounds[p.n] = len(out)
	for part := range p.n {
		if p.msgs[part] == 0 {
			continue
		}
		b := out[bounds[part]:bounds[part+1]:bounds[part+1]]
		if err := emit(part, b, p.items[part]); err != nil {
			return err
		}
	}
	return nil
}

// appendPart encodes the items idx (ascending) as one request: consecutive items of a scope
// share its envelope, consecutive scopes of a resource share the resource's. sizes is scratch.
func (p *partitioner) appendPart(dst []byte, idx []int32, sizes []int) ([]byte, []int) {
	l := p.l
	// First pass: the size of every scope group, then of every resource group, in order.
	type group struct {
		res      int
		from, to int // in idx
	}
	var scopes []group
	for i := 0; i < len(idx); {
		s := p.itemScope[idx[i]]
		j := i + 1
		for j < len(idx) && p.itemScope[idx[j]] == s {
			j++
		}
		scopes = append(scopes, group{res: int(p.scopeRes[s]), from: i, to: j})
		i = j
	}
	for _, g := range scopes {
		sc := &l.scopes[p.itemScope[idx[g.from]]]
		size := hdrLen(l.scopeHdrs[sc.hdrFrom:sc.hdrTo])
		for _, i := range idx[g.from:g.to] {
			size += itemCost(&l.items[i])
		}
		sizes = append(sizes, size)
	}
	// Second pass: write, one resource group (consecutive scopes of one resource) at a time.
	for a := 0; a < len(scopes); {
		b := a + 1
		for b < len(scopes) && scopes[b].res == scopes[a].res {
			b++
		}
		rs := &l.res[scopes[a].res]
		hdrs := l.resHdrs[rs.hdrFrom:rs.hdrTo]
		size := hdrLen(hdrs)
		for k := a; k < b; k++ {
			size += 1 + sizeVarint(uint64(sizes[k])) + sizes[k]
		}
		dst = append(dst, tagRes)
		dst = appendVarint(dst, uint64(size))
		for _, h := range hdrs {
			dst = append(dst, l.body[h.off:h.end]...)
		}
		for k := a; k < b; k++ {
			g := scopes[k]
			sc := &l.scopes[p.itemScope[idx[g.from]]]
			dst = append(dst, tagScope)
			dst = appendVarint(dst, uint64(sizes[k]))
			for _, h := range l.scopeHdrs[sc.hdrFrom:sc.hdrTo] {
				dst = append(dst, l.body[h.off:h.end]...)
			}
			for _, i := range idx[g.from:g.to] {
				it := &l.items[i]
				dst = append(dst, tagItem)
				dst = appendVarint(dst, uint64(it.end-it.off))
				dst = append(dst, l.body[it.off:it.end]...)
			}
		}
		a = b
	}
	return dst, sizes
}
