package routing

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

type recorder struct {
	mu      sync.Mutex
	batches []pipeline.Batch
}

func (r *recorder) Consume(_ context.Context, b pipeline.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b.Body = append([]byte(nil), b.Body...)
	r.batches = append(r.batches, b)
	return nil
}

// spans renders what arrived as resource-service:span-name, sorted.
func (r *recorder) spans(t *testing.T) string {
	var out []string
	for _, b := range r.batches {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b.Body)
		if err != nil {
			t.Fatal(err)
		}
		if td.SpanCount() != b.Items {
			t.Errorf("batch says %d items, holds %d spans", b.Items, td.SpanCount())
		}
		for _, rs := range td.ResourceSpans().All() {
			svc, _ := rs.Resource().Attributes().Get("service.name")
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					out = append(out, svc.Str()+":"+sp.Name())
				}
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func traces() pipeline.Batch {
	td := ptrace.NewTraces()
	for i, svc := range []string{"shop", "cart", "auth"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		rs.Resource().Attributes().PutInt("shard", int64(i+1))
		ss := rs.ScopeSpans().AppendEmpty()
		for _, n := range []string{"get", "put"} {
			sp := ss.Spans().AppendEmpty()
			sp.SetName(n)
			sp.Attributes().PutStr("http.method", strings.ToUpper(n))
		}
	}
	body, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	return pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: td.SpanCount()}
}

func TestRouting(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   Config
		want  map[string]string // pipeline → spans
		whole bool              // the batch went on without re-encoding
	}{
		{"resource routes move whole resources; the rest goes to the default", Config{
			DefaultPipelines: []string{"d"},
			Table: []Route{
				{Condition: `attributes["service.name"] == "shop"`, Pipelines: []string{"a"}},
				{Condition: `attributes["service.name"] == "cart" or attributes["shard"] == 3`, Pipelines: []string{"b"}},
			}},
			map[string]string{"a": "shop:get,shop:put", "b": "auth:get,auth:put,cart:get,cart:put", "d": ""}, false},
		{"one destination for every resource passes the batch on as it is", Config{
			DefaultPipelines: []string{"d"},
			Table:            []Route{{Condition: `attributes["service.name"] != "none"`, Pipelines: []string{"a", "b"}}}},
			map[string]string{"a": "auth:get,auth:put,cart:get,cart:put,shop:get,shop:put", "b": "auth:get,auth:put,cart:get,cart:put,shop:get,shop:put", "d": ""}, true},
		{"span routes split resources; an earlier route takes first", Config{
			DefaultPipelines: []string{"d"},
			Table: []Route{
				{Context: "span", Condition: `name == "get" and resource.attributes["service.name"] == "shop"`, Pipelines: []string{"a"}},
				{Context: "span", Condition: `attributes["http.method"] == "GET"`, Pipelines: []string{"b"}},
			}},
			map[string]string{"a": "shop:get", "b": "auth:get,cart:get", "d": "auth:put,cart:put,shop:put"}, false},
		{"copy leaves the data for later routes", Config{
			Table: []Route{
				{Statement: `route() where attributes["service.name"] == "auth"`, Action: "copy", Pipelines: []string{"a"}},
				{Condition: `attributes["shard"] != 1`, Pipelines: []string{"b"}},
			}},
			map[string]string{"a": "auth:get,auth:put", "b": "auth:get,auth:put,cart:get,cart:put", "d": ""}, false},
		{"without a default, what matches nothing is dropped", Config{
			Table: []Route{{Condition: `attributes["service.name"] == "nothing"`, Pipelines: []string{"a"}}}},
			map[string]string{"a": "", "b": "", "d": ""}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			recs := map[string]*recorder{"a": {}, "b": {}, "d": {}}
			var routes component.Routes
			for _, n := range []string{"a", "b", "d"} {
				routes = append(routes, component.Route{Pipeline: n, Consumer: recs[n]})
			}
			conn, err := New(c.cfg, pipeline.SignalTraces, routes)
			if err != nil {
				t.Fatal(err)
			}
			in := traces()
			if err := conn.Consume(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			for n, want := range c.want {
				if got := recs[n].spans(t); got != want {
					t.Errorf("pipeline %s got %q, want %q", n, got, want)
				}
			}
			if c.whole && string(recs["a"].batches[0].Body) != string(in.Body) {
				t.Error("the batch was re-encoded although it all went one way")
			}
		})
	}
}

func TestRoutingConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "table: at least one route is required"},
		{Config{Table: []Route{{Condition: `attributes["a"] = "b"`, Pipelines: []string{"a"}}}}, "want == or !="},
		{Config{Table: []Route{{Condition: `attributes["a"] == "b"`}}}, "table[0].pipelines: at least one pipeline is required"},
		{Config{Table: []Route{{Context: "request", Condition: `request["X"] == "b"`, Pipelines: []string{"a"}}}}, `context: "request" is not supported`},
		{Config{Table: []Route{{Condition: `body == "x"`, Pipelines: []string{"a"}}}}, `path body does not exist in the resource context`},
		{Config{Table: []Route{{Condition: `attributes["a"] == "b"`, Action: "send", Pipelines: []string{"a"}}}}, `action: "send" is neither move nor copy`},
		{Config{ErrorMode: "loud", Table: []Route{{Condition: `attributes["a"] == "b"`, Pipelines: []string{"a"}}}}, "error_mode"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
	// A route to a pipeline that does not take from the connector, and a context of another signal.
	cfg := Config{Table: []Route{{Condition: `attributes["a"] == "b"`, Pipelines: []string{"missing"}}}}
	if _, err := New(cfg, pipeline.SignalTraces, component.Routes{{Pipeline: "a", Consumer: &recorder{}}}); err == nil ||
		!strings.Contains(err.Error(), `pipeline "missing" does not list this connector as a receiver`) {
		t.Errorf("got %v", err)
	}
	cfg = Config{Table: []Route{{Context: "log", Condition: `attributes["a"] == "b"`, Pipelines: []string{"a"}}}}
	if _, err := New(cfg, pipeline.SignalTraces, component.Routes{{Pipeline: "a", Consumer: &recorder{}}}); err == nil ||
		!strings.Contains(err.Error(), `"log" does not apply to traces`) {
		t.Errorf("got %v", err)
	}
}

// The Collector's routingconnector is not served by the module proxy at a release beside the
// other contrib components, so this follows its README instead: "Route logs based on region"
// (log context, default pipeline) and "based on tenant" by resource attribute, with records
// of one resource split between routes and resources and scopes going along.
func TestRoutingDocumentedExamples(t *testing.T) {
	ld := plog.NewLogs()
	for _, tenant := range []string{"acme", "ecorp"} {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("tenant", tenant)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("app")
		for _, region := range []string{"east", "west", "north"} {
			lr := sl.LogRecords().AppendEmpty()
			lr.Attributes().PutStr("region", region)
			lr.Body().SetStr(tenant + "/" + region)
		}
	}
	body, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	render := func(r *recorder) string {
		var out []string
		for _, b := range r.batches {
			got, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b.Body)
			if err != nil {
				t.Fatal(err)
			}
			for _, rl := range got.ResourceLogs().All() {
				tenant, _ := rl.Resource().Attributes().Get("tenant")
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						out = append(out, tenant.Str()+":"+sl.Scope().Name()+":"+lr.Body().Str())
					}
				}
			}
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		cfg  Config
		want map[string]string
	}{
		{Config{DefaultPipelines: []string{"logs/other"}, Table: []Route{
			{Context: "log", Condition: `attributes["region"] == "east"`, Pipelines: []string{"logs/east"}},
			{Context: "log", Condition: `attributes["region"] == "west"`, Pipelines: []string{"logs/west"}},
		}}, map[string]string{
			"logs/east":  "acme:app:acme/east,ecorp:app:ecorp/east",
			"logs/west":  "acme:app:acme/west,ecorp:app:ecorp/west",
			"logs/other": "acme:app:acme/north,ecorp:app:ecorp/north",
		}},
		{Config{DefaultPipelines: []string{"logs/other"}, Table: []Route{
			{Condition: `attributes["tenant"] == "acme"`, Pipelines: []string{"logs/east"}},
			{Condition: `attributes["tenant"] == "ecorp"`, Pipelines: []string{"logs/west"}},
		}}, map[string]string{
			"logs/east":  "acme:app:acme/east,acme:app:acme/north,acme:app:acme/west",
			"logs/west":  "ecorp:app:ecorp/east,ecorp:app:ecorp/north,ecorp:app:ecorp/west",
			"logs/other": "",
		}},
	} {
		recs := map[string]*recorder{"logs/east": {}, "logs/west": {}, "logs/other": {}}
		var routes component.Routes
		for _, n := range []string{"logs/east", "logs/other", "logs/west"} {
			routes = append(routes, component.Route{Pipeline: n, Consumer: recs[n]})
		}
		conn, err := New(c.cfg, pipeline.SignalLogs, routes)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Consume(context.Background(), pipeline.Batch{Signal: pipeline.SignalLogs, Body: body, Items: 6}); err != nil {
			t.Fatal(err)
		}
		for n, want := range c.want {
			if got := render(recs[n]); got != want {
				t.Errorf("%s: got %q, want %q", n, got, want)
			}
		}
	}
}
