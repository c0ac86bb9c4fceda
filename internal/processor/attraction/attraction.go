// Package attraction applies the attribute actions the resource and attributes processors
// share (insert, update, upsert, delete, hash, extract, convert), with the Collector's
// configuration vocabulary and semantics.
package attraction

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otlp-dev/otlp/internal/otlpwire"
)

// Action is one entry of an actions list.
type Action struct {
	Key string `toml:"key"`
	// Value is what insert, update and upsert set: a string, integer, float or boolean.
	Value any `toml:"value"`
	// FromAttribute takes the value from another attribute of the same item instead.
	FromAttribute string `toml:"from_attribute"`
	// Pattern is the regular expression of extract (named groups become attributes) and,
	// for delete and hash, selects keys.
	Pattern string `toml:"pattern"`
	// ConvertedType is the target of convert: int, double or string.
	ConvertedType string `toml:"converted_type"`
	// Action is insert, update, upsert, delete, hash, extract or convert.
	Action string `toml:"action"`
	// FromContext (request metadata) is not supported; it is decoded to say so.
	FromContext string `toml:"from_context"`
}

type compiled struct {
	key, from, convert string
	kind               string
	value              pcommon.Value
	hasValue           bool
	re                 *regexp.Regexp
	names              []string // extract: the group names, index 0 unused
}

// Actions is a compiled actions list.
type Actions struct {
	list []compiled
}

// Compile checks actions and prepares them; errors name the action by its index.
func Compile(actions []Action) (*Actions, error) {
	out := &Actions{}
	var errs []error
	for i, a := range actions {
		c, err := compile(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("actions[%d]: %w", i, err))
			continue
		}
		out.list = append(out.list, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func compile(a Action) (compiled, error) {
	c := compiled{key: a.Key, from: a.FromAttribute, kind: strings.ToLower(a.Action), convert: a.ConvertedType}
	if a.FromContext != "" {
		return c, errors.New("from_context: request metadata is not available to processors; use value or from_attribute")
	}
	sources := 0
	if a.Value != nil {
		sources++
	}
	if a.FromAttribute != "" {
		sources++
	}
	switch c.kind {
	case "insert", "update", "upsert":
		switch {
		case a.Key == "":
			return c, errors.New("key: required")
		case sources == 0:
			return c, fmt.Errorf("%s needs value or from_attribute", c.kind)
		case sources > 1:
			return c, errors.New("set value or from_attribute, not both")
		case a.Pattern != "" || a.ConvertedType != "":
			return c, fmt.Errorf("%s takes no pattern or converted_type", c.kind)
		}
		if a.Value != nil {
			c.value = pcommon.NewValueEmpty()
			if err := c.value.FromRaw(a.Value); err != nil {
				return c, fmt.Errorf("value: %w", err)
			}
			if c.value.Type() == pcommon.ValueTypeMap || c.value.Type() == pcommon.ValueTypeSlice {
				return c, errors.New("value: must be a string, integer, float or boolean")
			}
			c.hasValue = true
		}
	case "delete", "hash":
		switch {
		case a.Key == "" && a.Pattern == "":
			return c, errors.New("key or pattern: at least one is required")
		case sources > 0 || a.ConvertedType != "":
			return c, fmt.Errorf("%s takes no value, from_attribute or converted_type", c.kind)
		}
		if a.Pattern != "" {
			re, err := regexp.Compile(a.Pattern)
			if err != nil {
				return c, fmt.Errorf("pattern: %w", err)
			}
			c.re = re
		}
	case "extract":
		switch {
		case a.Key == "":
			return c, errors.New("key: required")
		case sources > 0 || a.ConvertedType != "":
			return c, errors.New("extract takes no value, from_attribute or converted_type")
		case a.Pattern == "":
			return c, errors.New("pattern: required for extract")
		}
		re, err := regexp.Compile(a.Pattern)
		if err != nil {
			return c, fmt.Errorf("pattern: %w", err)
		}
		names := re.SubexpNames()
		if len(names) <= 1 {
			return c, errors.New("pattern: has no named groups ((?P<name>...)) to extract")
		}
		for _, n := range names[1:] {
			if n == "" {
				return c, errors.New("pattern: every group must be named ((?P<name>...))")
			}
		}
		c.re, c.names = re, names
	case "convert":
		switch {
		case a.Key == "":
			return c, errors.New("key: required")
		case sources > 0 || a.Pattern != "":
			return c, errors.New("convert takes no value, from_attribute or pattern")
		}
		switch a.ConvertedType {
		case "int", "double", "string":
		case "":
			return c, errors.New("converted_type: required for convert (int, double or string)")
		default:
			return c, fmt.Errorf("converted_type: %q is not one of int, double, string", a.ConvertedType)
		}
	case "":
		return c, errors.New("action: required (insert, update, upsert, delete, hash, extract or convert)")
	default:
		return c, fmt.Errorf("action: %q is not one of insert, update, upsert, delete, hash, extract, convert", a.Action)
	}
	return c, nil
}

// Apply runs the actions on attrs, in order.
func (a *Actions) Apply(attrs pcommon.Map) {
	for i := range a.list {
		c := &a.list[i]
		switch c.kind {
		case "delete":
			attrs.Remove(c.key)
			for _, k := range matching(c.re, attrs) {
				attrs.Remove(k)
			}
		case "insert":
			v, ok := c.source(attrs)
			if !ok {
				continue
			}
			if _, exists := attrs.Get(c.key); !exists {
				v.CopyTo(attrs.PutEmpty(c.key))
			}
		case "update":
			v, ok := c.source(attrs)
			if !ok {
				continue
			}
			if cur, exists := attrs.Get(c.key); exists {
				v.CopyTo(cur)
			}
		case "upsert":
			v, ok := c.source(attrs)
			if !ok {
				continue
			}
			if cur, exists := attrs.Get(c.key); exists {
				v.CopyTo(cur)
			} else {
				v.CopyTo(attrs.PutEmpty(c.key))
			}
		case "hash":
			if v, ok := attrs.Get(c.key); ok {
				hash(v)
			}
			for _, k := range matching(c.re, attrs) {
				if v, ok := attrs.Get(k); ok {
					hash(v)
				}
			}
		case "extract":
			v, ok := attrs.Get(c.key)
			if !ok || v.Type() != pcommon.ValueTypeStr {
				continue
			}
			m := c.re.FindStringSubmatch(v.Str())
			for i := 1; i < len(m); i++ {
				attrs.PutStr(c.names[i], m[i])
			}
		case "convert":
			if v, ok := attrs.Get(c.key); ok {
				convert(v, c.convert)
			}
		}
	}
}

// source is the value insert, update and upsert set. A value from another attribute is
// copied first, so that setting the key does not change it under us.
func (c *compiled) source(attrs pcommon.Map) (pcommon.Value, bool) {
	if c.hasValue {
		return c.value, true
	}
	v, ok := attrs.Get(c.from)
	if !ok {
		return v, false
	}
	cp := pcommon.NewValueEmpty()
	v.CopyTo(cp)
	return cp, true
}

func matching(re *regexp.Regexp, attrs pcommon.Map) []string {
	if re == nil {
		return nil
	}
	var keys []string
	for k := range attrs.All() {
		if re.MatchString(k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// hash replaces v with the hex SHA-256 of its value (strings as their bytes, booleans as one
// byte, numbers as 8 little-endian bytes), as the Collector's hash action does. Other types
// become the empty string.
func hash(v pcommon.Value) {
	var b []byte
	switch v.Type() {
	case pcommon.ValueTypeStr:
		b = []byte(v.Str())
	case pcommon.ValueTypeBool:
		b = []byte{0}
		if v.Bool() {
			b[0] = 1
		}
	case pcommon.ValueTypeInt:
		b = binary.LittleEndian.AppendUint64(nil, uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		b = binary.LittleEndian.AppendUint64(nil, math.Float64bits(v.Double()))
	}
	if len(b) == 0 {
		v.SetStr("")
		return
	}
	sum := sha256.Sum256(b)
	v.SetStr(hex.EncodeToString(sum[:]))
}

// convert changes v's type when its value converts; otherwise v stays as it was.
func convert(v pcommon.Value, to string) {
	switch to {
	case "int":
		switch v.Type() {
		case pcommon.ValueTypeStr:
			if n, err := strconv.ParseInt(v.Str(), 10, 64); err == nil {
				v.SetInt(n)
			}
		case pcommon.ValueTypeDouble:
			v.SetInt(int64(v.Double()))
		case pcommon.ValueTypeBool:
			n := int64(0)
			if v.Bool() {
				n = 1
			}
			v.SetInt(n)
		}
	case "double":
		switch v.Type() {
		case pcommon.ValueTypeStr:
			if f, err := strconv.ParseFloat(v.Str(), 64); err == nil {
				v.SetDouble(f)
			}
		case pcommon.ValueTypeInt:
			v.SetDouble(float64(v.Int()))
		case pcommon.ValueTypeBool:
			f := 0.0
			if v.Bool() {
				f = 1
			}
			v.SetDouble(f)
		}
	case "string":
		v.SetStr(v.AsString())
	}
}

// Wire is an actions list that runs on attributes in wire form (otlpwire.AttrList), so that a
// stage rewrites a request without decoding it. It gives the attributes Apply gives.
type Wire struct {
	list []wireAction
}

type wireAction struct {
	kind  string
	key   string
	keyB  []byte
	from  string
	re    *regexp.Regexp
	value []byte // encoded AnyValue of a literal
}

// Wire returns the list for wire rewriting; false when an action needs the data model
// (extract, convert).
func (a *Actions) Wire() (*Wire, bool) {
	w := &Wire{}
	for i := range a.list {
		c := &a.list[i]
		wa := wireAction{kind: c.kind, key: c.key, keyB: []byte(c.key), from: c.from, re: c.re}
		switch c.kind {
		case "insert", "update", "upsert":
			if c.hasValue {
				switch c.value.Type() {
				case pcommon.ValueTypeStr:
					wa.value = otlpwire.EncodeAnyValue(c.value.Str())
				case pcommon.ValueTypeInt:
					wa.value = otlpwire.EncodeAnyValue(c.value.Int())
				case pcommon.ValueTypeDouble:
					wa.value = otlpwire.EncodeAnyValue(c.value.Double())
				case pcommon.ValueTypeBool:
					wa.value = otlpwire.EncodeAnyValue(c.value.Bool())
				default:
					return nil, false
				}
			}
		case "delete", "hash":
		default:
			return nil, false
		}
		w.list = append(w.list, wa)
	}
	return w, true
}

// Apply runs the actions on l, in order.
func (w *Wire) Apply(l *otlpwire.AttrList) {
	for i := range w.list {
		c := &w.list[i]
		switch c.kind {
		case "delete":
			if j := l.Index(c.key); j >= 0 {
				l.Remove(j)
			}
			if c.re != nil {
				for j := 0; j < len(l.KVs); {
					if c.re.Match(l.KVs[j].Key) {
						l.Remove(j) // the last moves here: look at j again
						continue
					}
					j++
				}
			}
		case "insert", "update", "upsert":
			v, ok := c.source(l)
			if !ok {
				continue
			}
			j := l.Index(c.key)
			switch {
			case j >= 0 && c.kind != "insert":
				l.KVs[j].Value = v
			case j < 0 && c.kind != "update":
				l.KVs = append(l.KVs, otlpwire.KV{Key: c.keyB, Value: v})
			}
		case "hash":
			if j := l.Index(c.key); j >= 0 {
				l.KVs[j].Value = wireHash(l, l.KVs[j].Value)
			}
			if c.re != nil {
				for j := range l.KVs {
					if c.re.Match(l.KVs[j].Key) {
						l.KVs[j].Value = wireHash(l, l.KVs[j].Value)
					}
				}
			}
		}
	}
}

func (c *wireAction) source(l *otlpwire.AttrList) ([]byte, bool) {
	if c.value != nil {
		return c.value, true
	}
	j := l.Index(c.from)
	if j < 0 {
		return nil, false
	}
	return l.KVs[j].Value, true
}

// wireHash is hash on an encoded value: the SHA-256 of the same bytes, as a hex string.
func wireHash(l *otlpwire.AttrList, raw []byte) []byte {
	v := otlpwire.ValueOf(raw)
	var tmp [8]byte
	var b []byte
	switch v.Type() {
	case otlpwire.ValueStr:
		b = v.Str()
	case otlpwire.ValueBool:
		b = tmp[:1]
		if v.Bool() {
			b[0] = 1
		}
	case otlpwire.ValueInt:
		b = binary.LittleEndian.AppendUint64(tmp[:0], uint64(v.Int()))
	case otlpwire.ValueDouble:
		b = binary.LittleEndian.AppendUint64(tmp[:0], math.Float64bits(v.Double()))
	}
	if len(b) == 0 {
		return l.StoreStr(nil)
	}
	sum := sha256.Sum256(b)
	var out [64]byte
	hex.Encode(out[:], sum[:])
	return l.StoreStr(out[:])
}
