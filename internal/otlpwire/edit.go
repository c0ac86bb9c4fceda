package otlpwire

import "github.com/otlp-dev/otlp/internal/pipeline"

// Edits says how Edit rewrites a request. A nil function leaves its part as it is.
type Edits struct {
	// Resource appends to dst the new value of a resource's Resource message, given its old
	// value (the merge of its occurrences; nil when it has none).
	Resource func(dst, old []byte) []byte
	// Item appends to dst the new value of an item message (span, metric or log record),
	// given its old value, its resource's Resource (as Resource rewrote it, when set) and its
	// scope's InstrumentationScope (nil when absent); keep false drops the item.
	Item func(dst, item, resource, scope []byte) (out []byte, keep bool)
	// Keep, for edits that only drop, reports whether to keep an item as it is; it is not
	// consulted when Item is set.
	Keep func(item, resource, scope []byte) bool
	// DropEmpty leaves out every scope and resource without items, also those that had
	// none to begin with (what the filter processor does).
	DropEmpty bool
}

// EditScratch holds what Edit needs between its passes; reuse one per goroutine so that
// editing does not allocate once the buffers have grown.
type EditScratch struct {
	l     layout
	buf   []byte // rewritten resources and items
	cat   []byte // merged Resource values
	items []edited
	res   []editedRes
}

type edited struct {
	off, end int // in buf, or in the body when verbatim
	verbatim bool
	keep     bool
}

type editedRes struct {
	old      []byte
	off, end int // new Resource value in buf (rewritten only)
}

// Edit appends to dst the request body with its resources and items rewritten by ed and
// reports how many items (spans, metric data points, log records) it dropped. When ed only
// has Keep and it keeps every item, Edit appends nothing: the body stands unchanged. Scopes and
// resources whose items were all dropped are left out; envelope fields are copied as they
// are. body must be a request Scan accepted: Edit checks its envelopes, not its items, and a
// malformed body is an error matching ErrMalformed.
func Edit(sig pipeline.Signal, body, dst []byte, ed Edits, s *EditScratch) (out []byte, dropped int, err error) {
	l := &s.l
	l.res, l.scopes, l.resHdrs, l.scopeHdrs, l.items = l.res[:0], l.scopes[:0], l.resHdrs[:0], l.scopeHdrs[:0], l.items[:0]
	// The body was validated where it entered (Scan): only the layout is needed here.
	if _, err := parseWith(walker{lay: l, shallow: true}, sig, body, l); err != nil {
		return dst, 0, err
	}
	s.buf, s.cat, s.items, s.res = s.buf[:0], s.cat[:0], s.items[:0], s.res[:0]
	// Pass 1: the old Resource values, then every rewritten resource and item into buf.
	for r := range l.res {
		rs := &l.res[r]
		old := s.merged(body, l.resHdrs[rs.hdrFrom:rs.hdrTo], fResource)
		er := editedRes{old: old}
		if ed.Resource != nil {
			er.off = len(s.buf)
			s.buf = ed.Resource(s.buf, old)
			er.end = len(s.buf)
		}
		s.res = append(s.res, er)
	}
	// Indexed like l.items, which also holds the items of deprecated scopes pdata discards.
	if cap(s.items) < len(l.items) {
		s.items = make([]edited, len(l.items))
	}
	s.items = s.items[:len(l.items)]
	for r := range l.res {
		rs := &l.res[r]
		for sc := rs.scopeFrom; sc < rs.scopeTo; sc++ {
			var scope []byte
			if ed.Item != nil || ed.Keep != nil {
				scope = s.merged(body, l.scopeHdrs[l.scopes[sc].hdrFrom:l.scopes[sc].hdrTo], fScope)
			}
			for i := l.scopes[sc].itemFrom; i < l.scopes[sc].itemTo; i++ {
				it := &l.items[i]
				e := edited{off: it.off, end: it.end, verbatim: true, keep: true}
				res := s.res[r].old
				if ed.Resource != nil {
					res = s.buf[s.res[r].off:s.res[r].end] // stays valid if buf grows: appends copy
				}
				if ed.Item == nil && ed.Keep != nil && !ed.Keep(body[it.off:it.end], res, scope) {
					e.keep = false
					dropped += it.n
				} else if ed.Item != nil {
					from := len(s.buf)
					s.buf, e.keep = ed.Item(s.buf, body[it.off:it.end], res, scope)
					e.off, e.end, e.verbatim = from, len(s.buf), false
					if !e.keep {
						dropped += it.n
						s.buf = s.buf[:from]
					}
				}
				s.items[i] = e
			}
		}
	}
	if ed.Resource == nil && ed.Item == nil && ed.Keep != nil && dropped == 0 && !(ed.DropEmpty && l.hasEmpty()) {
		return dst, 0, nil // only Keep, and it kept everything: body stands as it is
	}
	// Pass 2: the envelopes around what was kept.
	for r := range l.res {
		rs := &l.res[r]
		size, scopes := 0, 0
		for sc := rs.scopeFrom; sc < rs.scopeTo; sc++ {
			if n, ok := s.scopeSize(sc, ed.DropEmpty); ok {
				size += 1 + sizeVarint(uint64(n)) + n
				scopes++
			}
		}
		if scopes == 0 && (rs.scopeTo > rs.scopeFrom || ed.DropEmpty) {
			continue // every item dropped
		}
		for _, h := range l.resHdrs[rs.hdrFrom:rs.hdrTo] {
			if _, ok := resourceValue(body, h); ok && ed.Resource != nil {
				continue
			}
			size += h.end - h.off
		}
		er := s.res[r]
		if ed.Resource != nil {
			n := er.end - er.off
			size += 1 + sizeVarint(uint64(n)) + n
		}
		dst = append(dst, tagRes)
		dst = appendVarint(dst, uint64(size))
		if ed.Resource != nil {
			dst = append(dst, fResource<<3|wtLen)
			dst = appendVarint(dst, uint64(er.end-er.off))
			dst = append(dst, s.buf[er.off:er.end]...)
		}
		for _, h := range l.resHdrs[rs.hdrFrom:rs.hdrTo] {
			if _, ok := resourceValue(body, h); ok && ed.Resource != nil {
				continue
			}
			dst = append(dst, body[h.off:h.end]...)
		}
		for sc := rs.scopeFrom; sc < rs.scopeTo; sc++ {
			n, ok := s.scopeSize(sc, ed.DropEmpty)
			if !ok {
				continue
			}
			scl := &l.scopes[sc]
			dst = append(dst, tagScope)
			dst = appendVarint(dst, uint64(n))
			for _, h := range l.scopeHdrs[scl.hdrFrom:scl.hdrTo] {
				dst = append(dst, body[h.off:h.end]...)
			}
			for i := scl.itemFrom; i < scl.itemTo; i++ {
				e := &s.items[i]
				if !e.keep {
					continue
				}
				src := s.buf
				if e.verbatim {
					src = body
				}
				dst = append(dst, tagItem)
				dst = appendVarint(dst, uint64(e.end-e.off))
				dst = append(dst, src[e.off:e.end]...)
			}
		}
	}
	return dst, dropped, nil
}

// scopeSize is the encoded size of scope sc after the edit; false when every one of its
// items was dropped (a scope that had none stays).
func (s *EditScratch) scopeSize(sc int, dropEmpty bool) (int, bool) {
	scl := &s.l.scopes[sc]
	n, kept := hdrLen(s.l.scopeHdrs[scl.hdrFrom:scl.hdrTo]), 0
	for i := scl.itemFrom; i < scl.itemTo; i++ {
		if e := &s.items[i]; e.keep {
			m := e.end - e.off
			n += 1 + sizeVarint(uint64(m)) + m
			kept++
		}
	}
	return n, kept > 0 || (scl.itemTo == scl.itemFrom && !dropEmpty)
}

// hasEmpty reports whether a resource has no scope or a scope no item.
func (l *layout) hasEmpty() bool {
	for _, rs := range l.res {
		if rs.scopeTo == rs.scopeFrom {
			return true
		}
		for _, sc := range l.scopes[rs.scopeFrom:rs.scopeTo] {
			if sc.itemTo == sc.itemFrom {
				return true
			}
		}
	}
	return false
}

// merged returns the value of envelope field num among hdrs: the merge of its occurrences.
func (s *EditScratch) merged(body []byte, hdrs []span, num int) []byte {
	var old []byte
	n, from := 0, len(s.cat)
	for _, h := range hdrs {
		pos := h.off
		f, ok := readField(body[:h.end], &pos)
		if !ok || f.num != num || f.wt != wtLen {
			continue
		}
		switch n {
		case 0:
			old = f.b
		case 1: // occurrences merge: their values concatenated are the merged message
			s.cat = append(append(s.cat, old...), f.b...)
		default:
			s.cat = append(s.cat, f.b...)
		}
		n++
	}
	if n > 1 {
		old = s.cat[from:]
	}
	return old
}

// resourceValue returns the value of envelope field h when it is the resource field.
func resourceValue(body []byte, h span) ([]byte, bool) {
	pos := h.off
	f, ok := readField(body[:h.end], &pos)
	if !ok || f.num != fResource || f.wt != wtLen {
		return nil, false
	}
	return f.b, true
}
