package match

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		p    Properties
		k    pipeline.Signal
		want string
	}{
		{Properties{Services: []string{"a"}}, pipeline.SignalTraces, "match_type: required"},
		{Properties{MatchType: "fuzzy", Services: []string{"a"}}, pipeline.SignalTraces, `"fuzzy" is neither strict nor regexp`},
		{Properties{MatchType: "strict"}, pipeline.SignalTraces, "at least one of services"},
		{Properties{MatchType: "strict", Services: []string{"a"}}, pipeline.SignalLogs, "services: does not apply to log_records"},
		{Properties{MatchType: "strict", Resources: []Attribute{{Key: "a"}}}, pipeline.SignalMetrics, "resources: does not apply to metrics"},
		{Properties{MatchType: "regexp", SpanNames: []string{"("}}, pipeline.SignalTraces, "span_names: error parsing regexp"},
		{Properties{MatchType: "regexp", Attributes: []Attribute{{Key: "a", Value: int64(3)}}}, pipeline.SignalTraces, "with match_type regexp it must be a string"},
		{Properties{MatchType: "strict", LogBodies: []string{"x"}}, pipeline.SignalTraces, "log_bodies: does not apply to spans"},
	} {
		_, err := Compile(&c.p, c.k)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.p, err, c.want)
		}
	}
}

func TestSelects(t *testing.T) {
	res := pcommon.NewMap()
	res.PutStr("service.name", "shop-api")
	attrs := pcommon.NewMap()
	attrs.PutInt("code", 500)
	scope := pcommon.NewInstrumentationScope()
	scope.SetName("net/http")
	item := Item{Resource: res, Scope: scope, Attributes: attrs, Name: "GET /cart"}
	inc, err := Compile(&Properties{MatchType: "regexp", Services: []string{"^shop"}, SpanNames: []string{"^GET "}}, pipeline.SignalTraces)
	if err != nil {
		t.Fatal(err)
	}
	exc, err := Compile(&Properties{MatchType: "strict", Attributes: []Attribute{{Key: "code", Value: int64(500)}}}, pipeline.SignalTraces)
	if err != nil {
		t.Fatal(err)
	}
	if !Selects(inc, nil, item) || Selects(inc, exc, item) {
		t.Error("include should select, and the exclude by code=500 deselect")
	}
	strCode, _ := Compile(&Properties{MatchType: "strict", Attributes: []Attribute{{Key: "code", Value: "500"}}}, pipeline.SignalTraces)
	if strCode.Match(item) {
		t.Error(`"500" matched the integer 500: strict values keep their type`)
	}
	lib, _ := Compile(&Properties{MatchType: "strict", Libraries: []Library{{Name: "net/http"}}}, pipeline.SignalTraces)
	if !lib.Match(item) {
		t.Error("library by name did not match")
	}
}
