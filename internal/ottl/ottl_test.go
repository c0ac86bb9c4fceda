package ottl

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func span() SpanItem {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("net/http")
	sp := ss.Spans().AppendEmpty()
	sp.SetName("GET /cart")
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetStartTimestamp(1_000_000_000)
	sp.SetEndTimestamp(1_250_000_000)
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Attributes().PutInt("http.status_code", 503)
	sp.Attributes().PutDouble("ratio", 0.5)
	sp.Attributes().PutBool("retry", true)
	sp.Attributes().PutStr("code", "503")
	return SpanItem{Resource: rs.Resource(), Scope: ss.Scope(), Span: sp}
}

func TestEval(t *testing.T) {
	it := span()
	for src, want := range map[string]bool{
		`name == "GET /cart"`:    true,
		`IsMatch(name, "^GET ")`: true,
		`kind == SPAN_KIND_SERVER and status.code == STATUS_CODE_ERROR`: true,
		`resource.attributes["service.name"] == "shop"`:                 true,
		`instrumentation_scope.name == "net/http"`:                      true,
		`end_time - start_time > Duration("200ms")`:                     true,
		`end_time - start_time > Duration("300ms")`:                     false,
		`attributes["http.status_code"] >= 500`:                         true,
		`attributes["http.status_code"] == "503"`:                       false, // types differ, as in OTTL
		`attributes["code"] == "503"`:                                   true,
		`attributes["ratio"] < 1`:                                       true,
		`attributes["retry"] == true`:                                   true,
		`attributes["missing"] == nil`:                                  true,
		`attributes["missing"] != "x"`:                                  true,
		`attributes["missing"] > 1`:                                     false,
		`not (name == "x" or kind == SPAN_KIND_CLIENT)`:                 true,
		`name == "a" or name == "b" and true`:                           false,
		`IsMatch(attributes["http.status_code"], "^5")`:                 true,
		`-1 < 0`: true,
	} {
		c, err := Parse(src, SpanPaths)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := c.Eval(it); got != want {
			t.Errorf("%s = %v, want %v", src, got, want)
		}
	}
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.Body().SetStr("password reset")
	c, err := Parse(`severity_number >= SEVERITY_NUMBER_WARN and IsMatch(body, "password")`, LogPaths)
	if err != nil || !c.Eval(LogItem{Log: lr, Resource: pcommon.NewResource(), Scope: pcommon.NewInstrumentationScope()}) {
		t.Errorf("log condition: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for src, want := range map[string]string{
		`name = "x"`:           "want == or !=",
		`nam == "x"`:           "path nam does not exist in the span context",
		`attributes == "x"`:    `give a key: attributes["key"]`,
		`name == "x" and`:      "ends early",
		`Lower(name) == "x"`:   "function Lower is not supported",
		`IsMatch(name, "(")`:   "IsMatch: error parsing regexp",
		`Duration("soon") > 1`: "Duration: time: invalid duration",
		`name`:                 "",
		`"x"`:                  "is not true or false",
		`name == "x" "y"`:      `unexpected "y"`,
		`severity_number > 3`:  "path severity_number does not exist",
	} {
		_, err := Parse(src, SpanPaths)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", src, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want %q", src, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`name == "x"`, `end_time - start_time > Duration("1s") and not IsMatch(attributes["a"], "b")`, `(1 + 2.5e3) <= -3`} {
		f.Add(s)
	}
	it := span()
	f.Fuzz(func(t *testing.T, src string) {
		if c, err := Parse(src, SpanPaths); err == nil {
			c.Eval(it)
		}
	})
}
