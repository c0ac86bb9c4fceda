// Package tomlx decodes the project's TOML files strictly: ${VAR} references are expanded after
// parsing, inside string values only (a value can never inject TOML), an unset variable is an
// error naming the key unless a default is given (${VAR:-default}), durations must be strings
// ("10s", never a bare integer read as nanoseconds), and a key tagged secret:"true" may not be
// empty. Both the server's configuration and the SDK's file use it.
package tomlx

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Getenv looks a variable up; ok is false when it is not set at all.
type Getenv func(name string) (value string, ok bool)

// Expanded is a parsed file with its references expanded.
type Expanded struct {
	// Text is TOML text to decode: the original file when it had no reference, else the
	// expanded tree re-encoded (decode errors then still name their key).
	Text string
	// Raw is the expanded tree, for the checks below.
	Raw map[string]any
}

// Expand parses data and expands every ${VAR} in its string values. "$${" stands for a
// literal "${".
func Expand(data []byte, getenv Getenv) (*Expanded, error) {
	raw := map[string]any{}
	if _, err := toml.Decode(string(data), &raw); err != nil {
		if bytes.Contains(data, []byte("${")) {
			return nil, fmt.Errorf("%w (a ${VAR} reference must be inside a quoted string)", err)
		}
		return nil, err
	}
	var errs []error
	changed := false
	expandTree(raw, "", getenv, &errs, &changed)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !changed {
		return &Expanded{Text: string(data), Raw: raw}, nil
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(raw); err != nil {
		return nil, fmt.Errorf("re-encoding the expanded file: %w", err)
	}
	return &Expanded{Text: buf.String(), Raw: raw}, nil
}

func expandTree(v any, path string, getenv Getenv, errs *[]error, changed *bool) any {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			t[k] = expandTree(t[k], join(path, k), getenv, errs, changed)
		}
	case []map[string]any:
		for i := range t {
			expandTree(t[i], fmt.Sprintf("%s[%d]", path, i), getenv, errs, changed)
		}
	case []any:
		for i := range t {
			t[i] = expandTree(t[i], fmt.Sprintf("%s[%d]", path, i), getenv, errs, changed)
		}
	case string:
		if !strings.Contains(t, "${") {
			return t
		}
		out, err := ExpandString(t, getenv)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", path, err))
			return t
		}
		*changed = true
		return out
	}
	return v
}

// ExpandString replaces ${VAR} and ${VAR:-default} in s.
func ExpandString(s string, getenv Getenv) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' { // "$${" is a literal "${"
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated reference %q", s[i:])
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validName(name) {
			return "", fmt.Errorf("${%s}: %q is not a variable name (letters, digits and _)", ref, name)
		}
		v, ok := getenv(name)
		switch {
		case ok:
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			return "", fmt.Errorf("environment variable %s is not set (set it, or give a default: ${%s:-value})", name, name)
		}
		s = s[i+end+1:]
	}
}

func validName(n string) bool {
	if n == "" || (n[0] >= '0' && n[0] <= '9') {
		return false
	}
	for _, c := range n {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

var durationType = reflect.TypeFor[time.Duration]()

// Check walks raw (one table of the file) alongside the Go type it was decoded into and
// reports integers given for durations and empty values of secret:"true" keys, each naming its
// key under prefix.
func Check(raw map[string]any, target any, prefix string) error {
	var errs []error
	checkValue(raw, reflect.TypeOf(target), prefix, &errs)
	return errors.Join(errs...)
}

func checkValue(raw any, t reflect.Type, path string, errs *[]error) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return
	}
	if t == durationType {
		switch raw.(type) {
		case int64, float64:
			*errs = append(*errs, fmt.Errorf("%s: a duration needs a unit, e.g. \"%vs\" or \"500ms\" (got the bare number %v)", path, raw, raw))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			return
		}
		checkStruct(m, t, path, errs)
	case reflect.Map:
		m, ok := raw.(map[string]any)
		if !ok {
			return
		}
		for _, k := range sortedKeys(m) {
			checkValue(m[k], t.Elem(), join(path, k), errs)
		}
	case reflect.Slice, reflect.Array:
		switch s := raw.(type) {
		case []any:
			for i, v := range s {
				checkValue(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
			}
		case []map[string]any:
			for i, v := range s {
				checkValue(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
			}
		}
	}
}

func checkStruct(m map[string]any, t reflect.Type, path string, errs *[]error) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Tag.Get("toml") == "" {
			checkValue(m, f.Type, path, errs)
			continue
		}
		key := tomlKey(f)
		if key == "-" {
			continue
		}
		v, ok := lookupFold(m, key)
		if !ok {
			continue
		}
		if f.Tag.Get("secret") == "true" {
			if s, isStr := v.(string); isStr && strings.TrimSpace(s) == "" {
				*errs = append(*errs, fmt.Errorf("%s: empty secret (an empty value would turn authentication off; remove the key to run without it)", join(path, key)))
				continue
			}
			if m, isMap := v.(map[string]any); isMap {
				for _, k := range sortedKeys(m) {
					if s, isStr := m[k].(string); isStr && strings.TrimSpace(s) == "" {
						*errs = append(*errs, fmt.Errorf("%s: empty value (headers carry credentials; remove the header rather than send it empty)", join(join(path, key), k)))
					}
				}
			}
		}
		checkValue(v, f.Type, join(path, key), errs)
	}
}

// tomlKey is the key BurntSushi/toml matches a field with: its tag, or its name.
func tomlKey(f reflect.StructField) string {
	if tag, _, _ := strings.Cut(f.Tag.Get("toml"), ","); tag != "" {
		return tag
	}
	return f.Name
}

// lookupFold finds key as BurntSushi/toml does: exactly, else case-insensitively.
func lookupFold(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// Table returns raw's sub-table at keys, or nil.
func Table(raw map[string]any, keys ...string) map[string]any {
	cur := raw
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
