package attraction

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Each wrong action is refused with its index and what is wrong.
func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		a    Action
		want string
	}{
		{Action{Key: "k", Action: "insert"}, "actions[0]: insert needs value or from_attribute"},
		{Action{Key: "k", Value: "v", FromAttribute: "f", Action: "upsert"}, "set value or from_attribute, not both"},
		{Action{Action: "delete"}, "key or pattern: at least one is required"},
		{Action{Key: "k", Pattern: "(", Action: "hash"}, "pattern: error parsing regexp"},
		{Action{Key: "k", Pattern: "(a)", Action: "extract"}, "every group must be named"},
		{Action{Key: "k", Pattern: "abc", Action: "extract"}, "has no named groups"},
		{Action{Key: "k", ConvertedType: "bool", Action: "convert"}, `converted_type: "bool" is not one of int, double, string`},
		{Action{Key: "k", Value: "v", Action: "replace"}, `action: "replace" is not one of`},
		{Action{Key: "k", FromContext: "metadata.x", Action: "insert"}, "from_context: request metadata is not available"},
		{Action{Key: "k", Value: map[string]any{"a": 1}, Action: "insert"}, "value: must be a string, integer, float or boolean"},
	} {
		_, err := Compile([]Action{c.a})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.a, err, c.want)
		}
	}
}

// The actions in order on one map: the results the Collector's processors give (compared item
// by item in test/compare), spelled out here for the edge cases.
func TestApply(t *testing.T) {
	acts, err := Compile([]Action{
		{Key: "new", Value: int64(1), Action: "insert"},
		{Key: "keep", Value: "x", Action: "insert"},   // present: unchanged
		{Key: "absent", Value: "x", Action: "update"}, // absent: not added
		{Key: "copy", FromAttribute: "keep", Action: "upsert"},
		{Key: "missing", FromAttribute: "nope", Action: "upsert"}, // no source: nothing
		{Pattern: `^tmp\.`, Action: "delete"},
		{Key: "url", Pattern: `^(?P<scheme>\w+)://(?P<host>[^/]+)`, Action: "extract"},
		{Key: "n", ConvertedType: "int", Action: "convert"},
		{Key: "bad", ConvertedType: "int", Action: "convert"}, // does not convert: stays
		{Key: "email", Action: "hash"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := pcommon.NewMap()
	m.PutStr("keep", "orig")
	m.PutStr("tmp.a", "1")
	m.PutStr("tmp.b", "2")
	m.PutStr("url", "https://example.com/x")
	m.PutStr("n", "42")
	m.PutStr("bad", "forty")
	m.PutStr("email", "a@b.c")
	acts.Apply(m)
	want := map[string]string{"new": "1", "keep": "orig", "copy": "orig", "url": "https://example.com/x",
		"scheme": "https", "host": "example.com", "n": "42", "bad": "forty",
		"email": "d648b243a3e817eaa3309e00e183483f2867baadf522099f0c2121770536b25a"} // sha256sum of "a@b.c"
	if m.Len() != len(want) {
		t.Errorf("got %v", m.AsRaw())
	}
	for k, v := range want {
		got, ok := m.Get(k)
		if !ok || got.AsString() != v {
			t.Errorf("%s = %v, want %s", k, got.AsString(), v)
		}
	}
	if v, _ := m.Get("n"); v.Type() != pcommon.ValueTypeInt {
		t.Errorf("n converted to %s", v.Type())
	}
}
