package tomlx

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func env(m map[string]string) Getenv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestExpandString(t *testing.T) {
	e := env(map[string]string{"A": "x", "EMPTY": ""})
	for _, tc := range []struct{ in, want, err string }{
		{in: "${A}", want: "x"},
		{in: "pre-${A}-post", want: "pre-x-post"},
		{in: "${EMPTY}", want: ""},
		{in: "${UNSET:-def}", want: "def"},
		{in: "${A:-def}", want: "x"},
		{in: "${UNSET:-}", want: ""},
		{in: "$${A}", want: "${A}"},
		{in: "${UNSET}", err: "environment variable UNSET is not set"},
		{in: "${A", err: "unterminated"},
		{in: "${1X}", err: "not a variable name"},
	} {
		got, err := ExpandString(tc.in, e)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestExpandNamesTheKey(t *testing.T) {
	_, err := Expand([]byte("[receivers.otlp.auth]\nbearer_token = \"${OTLP_TOKEN}\"\n"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "receivers.otlp.auth.bearer_token") || !strings.Contains(err.Error(), "OTLP_TOKEN") {
		t.Fatalf("error %v does not name the key and the variable", err)
	}
}

// A value holding quotes, newlines or TOML syntax stays one string: it cannot add keys.
func TestExpandCannotInject(t *testing.T) {
	evil := "x\"\n[admin]\nendpoint = \"0.0.0.0:1\"\n#"
	exp, err := Expand([]byte("[a]\nb = \"${V}\"\n"), env(map[string]string{"V": evil}))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	md, err := toml.Decode(exp.Text, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Keys()) != 2 || out["a"].(map[string]any)["b"] != evil {
		t.Fatalf("keys %v, a.b = %q", md.Keys(), out["a"])
	}
}

func TestExpandOutsideStringIsAnError(t *testing.T) {
	_, err := Expand([]byte("port = ${PORT}\n"), env(map[string]string{"PORT": "1"}))
	if err == nil || !strings.Contains(err.Error(), "inside a quoted string") {
		t.Fatalf("error %v", err)
	}
}

func TestExpandArrays(t *testing.T) {
	exp, err := Expand([]byte("eps = [\"${A}\", \"b\"]\n[[t]]\nv = \"${A}\"\n"), env(map[string]string{"A": "a:1"}))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Eps []string
		T   []struct{ V string }
	}
	if _, err := toml.Decode(exp.Text, &out); err != nil {
		t.Fatal(err)
	}
	if out.Eps[0] != "a:1" || out.T[0].V != "a:1" {
		t.Fatalf("%+v", out)
	}
}

type inner struct {
	Wait time.Duration `toml:"wait"`
}

type target struct {
	Timeout time.Duration            `toml:"timeout"`
	Token   string                   `toml:"token" secret:"true"`
	Headers map[string]string        `toml:"headers" secret:"true"`
	Inner   inner                    `toml:"inner"`
	List    []inner                  `toml:"list"`
	ByName  map[string]inner         `toml:"by_name"`
	Other   map[string]time.Duration `toml:"other"`
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"timeout = 10", `x.timeout: a duration needs a unit, e.g. "10s"`},
		{"[inner]\nwait = 5", "x.inner.wait: a duration needs a unit"},
		{"[[list]]\nwait = 5", "x.list[0].wait"},
		{"[by_name.a]\nwait = 5", "x.by_name.a.wait"},
		{"[other]\nq = 1.5", "x.other.q"},
		{`token = ""`, "x.token: empty secret"},
		{`token = "  "`, "x.token: empty secret"},
		{`headers = { authorization = "" }`, "x.headers.authorization: empty value"},
	} {
		raw := map[string]any{}
		if _, err := toml.Decode(tc.text, &raw); err != nil {
			t.Fatal(err)
		}
		err := Check(raw, target{}, "x")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
	raw := map[string]any{}
	toml.Decode("timeout = \"10s\"\ntoken = \"t\"\n[inner]\nwait = \"1m\"\n", &raw)
	if err := Check(raw, target{}, "x"); err != nil {
		t.Fatalf("valid file: %v", err)
	}
}
