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
}

// grouper sorts items by resource and scope, in the order they first appear. The SDK has one
// resource per provider and few scopes, so a linear search beats a map.
type grouper struct{ groups []group }

func (g *grouper) add(k int, res *resource.Resource, sc instrumentation.Scope) {
	for i := range g.groups {
		gr := &g.groups[i]
		if gr.res == res && gr.scope == sc {
			gr.idx = append(gr.idx, k)
			return
		}
	}
	g.groups = append(g.groups, group{res: res, scope: sc, idx: []int{k}})
}

// write emits one resource message (field resField) per resource holding one scope message
// (field scopeField) per scope, each item written by item; then forgets the groups.
func (g *grouper) write(w *buf, resField, scopeField int, item func(w *buf, k int)) {
	for i := range g.groups {
		first := &g.groups[i]
		if first.idx == nil {
			continue // written with an earlier group of the same resource
		}
		rs := w.open(resField)
		w.resource(rsResource, first.res)
		for j := i; j < len(g.groups); j++ {
			gr := &g.groups[j]
			if gr.idx == nil || gr.res != first.res {
				continue
			}
			ss := w.open(scopeField)
			w.scope(ssScope, gr.scope)
			for _, k := range gr.idx {
				item(w, k)
			}
			w.stringField(ssSchemaURL, gr.scope.SchemaURL)
			w.close(ss)
			if j != i {
				gr.idx = nil
			}
		}
		if first.res != nil {
			w.stringField(rsSchemaURL, first.res.SchemaURL())
		}
		w.close(rs)
		first.idx = nil
	}
	if len(g.groups) > 8 {
		g.groups = nil
		return
	}
	g.groups = g.groups[:0]
}
