package otlpenc

import (
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Fields shared by Resource{Spans,Logs,Metrics} and Scope{Spans,Logs,Metrics}.
const (
	rsResource  = 1
	rsSchemaURL = 3
	ssScope     = 1
	ssSchemaURL = 3
)

// group is the items of one resource and scope, by index.
type group struct {
	res   *resource.Resource
	scope instrumentation.Scope
	idx   []int
	done  bool // written with an earlier group of the same resource
}

// grouper sorts items by resource and scope, in the order they first appear. The SDK has one
// resource per provider and few scopes, so a linear search beats a map. The groups and their
// index lists are kept for the next batch.
type grouper struct {
	groups []group
	n      int // groups in use
}

// Reuse bounds: an application with many scopes, or one huge batch, does not pin memory.
const (
	maxKeptGroups = 8
	maxKeptIndex  = 1 << 16
)

func (g *grouper) add(k int, res *resource.Resource, sc instrumentation.Scope) {
	for i := range g.groups[:g.n] {
		gr := &g.groups[i]
		if gr.res == res && gr.scope == sc {
			gr.idx = append(gr.idx, k)
			return
		}
	}
	if g.n == len(g.groups) {
		g.groups = append(g.groups, group{})
	}
	gr := &g.groups[g.n]
	g.n++
	gr.res, gr.scope, gr.done = res, sc, false
	gr.idx = append(gr.idx[:0], k)
}

// write appends one resource message (field resField) per resource holding one scope
// message (field scopeField) per scope, each item written by item; then forgets the groups.
func (g *grouper) write(b []byte, resField, scopeField int, item func(b []byte, k int) []byte) []byte {
	groups := g.groups[:g.n]
	for i := range groups {
		first := &groups[i]
		if first.done {
			continue
		}
		var rs int
		b, rs = appendOpen(b, resField)
		b = appendResource(b, rsResource, first.res)
		for j := i; j < len(groups); j++ {
			gr := &groups[j]
			if gr.done || gr.res != first.res {
				continue
			}
			var ss int
			b, ss = appendOpen(b, scopeField)
			b = appendScope(b, ssScope, gr.scope)
			for _, k := range gr.idx {
				b = item(b, k)
			}
			b = appendStringField(b, ssSchemaURL, gr.scope.SchemaURL)
			b = appendClose(b, ss)
			gr.done = true
		}
		if first.res != nil {
			b = appendStringField(b, rsSchemaURL, first.res.SchemaURL())
		}
		b = appendClose(b, rs)
	}
	g.reset()
	return b
}

// reset forgets the groups, keeping their memory within bounds.
func (g *grouper) reset() {
	if g.n > maxKeptGroups {
		g.groups, g.n = nil, 0
		return
	}
	for i := range g.groups[:g.n] {
		gr := &g.groups[i]
		gr.res, gr.scope = nil, instrumentation.Scope{}
		if cap(gr.idx) > maxKeptIndex {
			gr.idx = nil
		}
		gr.idx = gr.idx[:0]
	}
	g.n = 0
}
