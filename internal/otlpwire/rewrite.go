package otlpwire

import "github.com/otlp-dev/otlp/internal/pipeline"

// span is a byte range of the body.
type span struct{ off, end int }

type itemLayout struct {
	off, end int // the item message's value, without its tag and length
	n        int // items it holds: 1, or a metric's data points
	invalid  bool
}

type scopeLayout struct {
	hdrFrom, hdrTo   int // envelope fields in layout.scopeHdrs
	itemFrom, itemTo int // in layout.items
	deprecated       bool
}

type resLayout struct {
	hdrFrom, hdrTo     int // envelope fields in layout.resHdrs
	scopeFrom, scopeTo int // in layout.scopes
}

// layout is where everything sits in a body: the envelope fields of each resource and scope
// (every field but the nested groups, as complete tag+value ranges, copied verbatim when the
// envelope is rebuilt) and the bounds of every item message.
type layout struct {
	body      []byte
	res       []resLayout
	scopes    []scopeLayout
	resHdrs   []span
	scopeHdrs []span
	items     []itemLayout
}

func parse(sig pipeline.Signal, body []byte, l *layout) (Summary, error) {
	return parseWith(walker{lay: l}, sig, body, l)
}

func parseWith(w walker, sig pipeline.Signal, body []byte, l *layout) (Summary, error) {
	if err := w.init(sig); err != nil {
		return Summary{}, err
	}
	l.body = body
	if e := w.request(body); e != nil {
		return Summary{}, e.public()
	}
	return w.sum, nil
}

// dropDeprecatedScopes forgets the instrumentation_library_* scopes recorded since index from,
// which pdata discards when a resource also has scopes under the current field.
func (l *layout) dropDeprecatedScopes(from int) {
	kept := l.scopes[:from]
	for _, sc := range l.scopes[from:] {
		if !sc.deprecated {
			kept = append(kept, sc)
		}
	}
	l.scopes = kept
}

func hdrLen(hs []span) int {
	n := 0
	for _, h := range hs {
		n += h.end - h.off
	}
	return n
}

func itemCost(it *itemLayout) int {
	n := it.end - it.off
	return 1 + sizeVarint(uint64(n)) + n
}

// run is a contiguous slice of one scope's items that goes into a part.
type run struct {
	res, scope int
	from, to   int // item indexes
}

const (
	tagRes   = fRequestResources<<3 | wtLen
	tagScope = fScopes<<3 | wtLen
	tagItem  = fItems<<3 | wtLen
)

// appendRuns encodes runs as one export request. Consecutive runs of the same resource share
// its envelope; groups left without items (skipInvalid) are left out.
func (l *layout) appendRuns(dst []byte, runs []run, skipInvalid bool) []byte {
	for i := 0; i < len(runs); {
		j := i + 1
		for j < len(runs) && runs[j].res == runs[i].res {
			j++
		}
		dst = l.appendResource(dst, runs[i:j], skipInvalid)
		i = j
	}
	return dst
}

func (l *layout) appendResource(dst []byte, runs []run, skipInvalid bool) []byte {
	rs := &l.res[runs[0].res]
	hdrs := l.resHdrs[rs.hdrFrom:rs.hdrTo]
	size, nonEmpty := hdrLen(hdrs), false
	for _, r := range runs {
		if s, k := l.scopeSize(r, skipInvalid); k > 0 {
			size += 1 + sizeVarint(uint64(s)) + s
			nonEmpty = true
		}
	}
	if !nonEmpty {
		return dst
	}
	dst = append(dst, tagRes)
	dst = appendVarint(dst, uint64(size))
	for _, h := range hdrs {
		dst = append(dst, l.body[h.off:h.end]...)
	}
	for _, r := range runs {
		s, k := l.scopeSize(r, skipInvalid)
		if k == 0 {
			continue
		}
		sc := &l.scopes[r.scope]
		dst = append(dst, tagScope)
		dst = appendVarint(dst, uint64(s))
		for _, h := range l.scopeHdrs[sc.hdrFrom:sc.hdrTo] {
			dst = append(dst, l.body[h.off:h.end]...)
		}
		for i := r.from; i < r.to; i++ {
			it := &l.items[i]
			if skipInvalid && it.invalid {
				continue
			}
			dst = append(dst, tagItem)
			dst = appendVarint(dst, uint64(it.end-it.off))
			dst = append(dst, l.body[it.off:it.end]...)
		}
	}
	return dst
}

// scopeSize is the encoded size of the scope message holding run r, and how many item
// messages it holds.
func (l *layout) scopeSize(r run, skipInvalid bool) (size, msgs int) {
	sc := &l.scopes[r.scope]
	size = hdrLen(l.scopeHdrs[sc.hdrFrom:sc.hdrTo])
	for i := r.from; i < r.to; i++ {
		it := &l.items[i]
		if skipInvalid && it.invalid {
			continue
		}
		size += itemCost(it)
		msgs++
	}
	return size, msgs
}

// DropInvalid appends to dst the request body without its invalid spans (see Summary.Invalid),
// leaving out the scope and resource groups that end up empty, and reports how many spans it
// dropped. When nothing is invalid, or for metrics and logs, it appends body unchanged. A
// malformed body is an error matching ErrMalformed.
func DropInvalid(sig pipeline.Signal, body []byte, dst []byte) (out []byte, dropped int, err error) {
	var l layout
	sum, err := parse(sig, body, &l)
	if err != nil {
		return dst, 0, err
	}
	if sum.Invalid == 0 {
		return append(dst, body...), 0, nil
	}
	runs := make([]run, 0, len(l.scopes))
	for r := range l.res {
		rs := &l.res[r]
		for s := rs.scopeFrom; s < rs.scopeTo; s++ {
			runs = append(runs, run{res: r, scope: s, from: l.scopes[s].itemFrom, to: l.scopes[s].itemTo})
		}
	}
	return l.appendRuns(dst, runs, true), sum.Invalid, nil
}

// Split cuts a request into parts of at most maxItems items (spans, metric data points, log
// records) and about at most maxBytes encoded bytes (0 means no limit), and calls emit for each
// part in order. Parts are filled greedily: a resource or scope that does not fit is cut
// between its scopes, then between its items, and every part carries the envelope (resource,
// scope, schema_url) of what it holds. Items are never cut: a metric is kept whole with all its
// data points, and an item larger than the limits goes alone in its part, the only case in which
// a part exceeds them. The byte estimate is an upper bound, so other parts never exceed
// maxBytes.
//
// When the whole body fits, emit receives body itself. Otherwise part is valid only until emit
// returns. A request without any item emits nothing. An error from emit stops Split and is
// returned; a malformed body is an error matching ErrMalformed, and then emit is not called.
func Split(sig pipeline.Signal, body []byte, maxItems, maxBytes int, emit func(part []byte, items int) error) error {
	var l layout
	sum, err := parse(sig, body, &l)
	if err != nil {
		return err
	}
	msgs := 0
	for _, sc := range l.scopes {
		msgs += sc.itemTo - sc.itemFrom
	}
	if msgs == 0 {
		return nil
	}
	if (maxItems <= 0 || sum.Items <= maxItems) && (maxBytes <= 0 || len(body) <= maxBytes) {
		return emit(body, sum.Items)
	}

	// Envelope overheads are bounded with the largest length prefix any part can need.
	lenPrefix := sizeVarint(uint64(len(body)))
	var (
		runs                           []run
		buf                            []byte
		partItems, partBytes, partMsgs int
	)
	flush := func() error {
		buf = l.appendRuns(buf[:0], runs, false)
		err := emit(buf, partItems)
		runs, partItems, partBytes, partMsgs = runs[:0], 0, 0, 0
		return err
	}
	for r := range l.res {
		rs := &l.res[r]
		resCost := 1 + lenPrefix + hdrLen(l.resHdrs[rs.hdrFrom:rs.hdrTo])
		for s := rs.scopeFrom; s < rs.scopeTo; s++ {
			sc := &l.scopes[s]
			scopeCost := 1 + lenPrefix + hdrLen(l.scopeHdrs[sc.hdrFrom:sc.hdrTo])
			for i := sc.itemFrom; i < sc.itemTo; i++ {
				it := &l.items[i]
				cost := itemCost(it)
				sameScope := len(runs) > 0 && runs[len(runs)-1].scope == s
				sameRes := len(runs) > 0 && runs[len(runs)-1].res == r
				extra := 0
				if !sameScope {
					extra += scopeCost
				}
				if !sameRes {
					extra += resCost
				}
				if partMsgs > 0 && ((maxItems > 0 && partItems+it.n > maxItems) ||
					(maxBytes > 0 && partBytes+extra+cost > maxBytes)) {
					if err := flush(); err != nil {
						return err
					}
					sameScope, extra = false, scopeCost+resCost
				}
				if sameScope {
					runs[len(runs)-1].to = i + 1
				} else {
					runs = append(runs, run{res: r, scope: s, from: i, to: i + 1})
				}
				partItems += it.n
				partBytes += extra + cost
				partMsgs++
			}
		}
	}
	if partMsgs > 0 {
		return flush()
	}
	return nil
}
