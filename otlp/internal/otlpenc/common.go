package otlpenc

import (
	"encoding/binary"
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Field numbers of opentelemetry/proto/common/v1 and resource/v1.
const (
	anyString = 1
	anyBool   = 2
	anyInt    = 3
	anyDouble = 4
	anyArray  = 5
	anyKVList = 6
	anyBytes  = 7

	kvKey   = 1
	kvValue = 2

	listValues = 1 // ArrayValue.values, KeyValueList.values

	resAttrs   = 1
	scopeName  = 1
	scopeVer   = 2
	scopeAttrs = 3
)

// appendKeyValues writes attrs as repeated KeyValue field.
func appendKeyValues(b []byte, field int, attrs []attribute.KeyValue) []byte {
	for i := range attrs {
		b = appendKeyValue(b, field, &attrs[i])
	}
	return b
}

// appendKeyValue writes one KeyValue message in field. Scalar values, whose size is known
// before they are written, get their lengths written first; the others go through
// appendValue.
func appendKeyValue(b []byte, field int, kv *attribute.KeyValue) []byte {
	key := string(kv.Key)
	switch kv.Value.Type() {
	case attribute.STRING:
		s := kv.Value.AsString()
		b = appendKVHead(b, field, key, 1+varintLen(uint64(len(s)))+len(s))
		return appendString(b, anyString, s)
	case attribute.INT64:
		i := uint64(kv.Value.AsInt64())
		b = appendKVHead(b, field, key, 1+varintLen(i))
		return appendVarint(append(b, anyInt<<3|wireVarint), i)
	case attribute.BOOL:
		b = appendKVHead(b, field, key, 2)
		return append(b, anyBool<<3|wireVarint, boolByte(kv.Value.AsBool()))
	case attribute.FLOAT64:
		b = appendKVHead(b, field, key, 9)
		return binary.LittleEndian.AppendUint64(append(b, anyDouble<<3|wireI64), math.Float64bits(kv.Value.AsFloat64()))
	}
	var s int
	b, s = appendOpen(b, field)
	b = appendStringField(b, kvKey, key)
	b = appendValue(b, kvValue, kv.Value)
	return appendClose(b, s)
}

// appendKVHead writes the start of a KeyValue message in field, up to the length of its
// value, an AnyValue of valueLen bytes.
func appendKVHead(b []byte, field int, key string, valueLen int) []byte {
	n := stringFieldLen(kvKey, key) + 1 + varintLen(uint64(valueLen)) + valueLen
	b = appendTag(b, field, wireLen)
	b = appendVarint(b, uint64(n))
	b = appendStringField(b, kvKey, key)
	b = append(b, kvValue<<3|wireLen)
	return appendVarint(b, uint64(valueLen))
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// appendValue writes v as an AnyValue message in field. A oneof member is written even when
// it holds its zero value, so false, 0 and "" survive.
func appendValue(b []byte, field int, v attribute.Value) []byte {
	if out, ok := appendFlatValue(b, field, v); ok {
		return out
	}
	return appendNested(b, field, v)
}

// appendNested writes v, a SLICE or a MAP, as an AnyValue message in field.
func appendNested(b []byte, field int, v attribute.Value) []byte {
	var s, a int
	b, s = appendOpen(b, field)
	switch v.Type() {
	case attribute.SLICE:
		b, a = appendOpen(b, anyArray)
		for _, x := range v.AsSlice() {
			if out, ok := appendFlatValue(b, listValues, x); ok {
				b = out
			} else {
				b = appendNested(b, listValues, x)
			}
		}
	case attribute.MAP:
		b, a = appendOpen(b, anyKVList)
		for _, kv := range v.AsMap() {
			var e int
			b, e = appendOpen(b, listValues)
			b = appendStringField(b, kvKey, string(kv.Key))
			if out, ok := appendFlatValue(b, kvValue, kv.Value); ok {
				b = out
			} else {
				b = appendNested(b, kvValue, kv.Value)
			}
			b = appendClose(b, e)
		}
	}
	b = appendClose(b, a)
	return appendClose(b, s)
}

// appendFlatValue writes v as an AnyValue message in field unless v is a SLICE or a MAP
// (ok false, nothing written).
func appendFlatValue(b []byte, field int, v attribute.Value) (out []byte, ok bool) {
	switch v.Type() {
	case attribute.SLICE, attribute.MAP:
		return b, false
	}
	var s int
	b, s = appendOpen(b, field)
	switch v.Type() {
	case attribute.BOOL:
		b = append(b, anyBool<<3|wireVarint, boolByte(v.AsBool()))
	case attribute.INT64:
		b = appendVarint(append(b, anyInt<<3|wireVarint), uint64(v.AsInt64()))
	case attribute.FLOAT64:
		b = binary.LittleEndian.AppendUint64(append(b, anyDouble<<3|wireI64), math.Float64bits(v.AsFloat64()))
	case attribute.STRING:
		b = appendString(b, anyString, v.AsString())
	case attribute.BYTESLICE:
		b = appendString(b, anyBytes, string(v.AsByteSlice()))
	case attribute.BOOLSLICE:
		var a int
		b, a = appendOpen(b, anyArray)
		for _, x := range v.AsBoolSlice() {
			b = append(b, listValues<<3|wireLen, 2, anyBool<<3|wireVarint, boolByte(x))
		}
		b = appendClose(b, a)
	case attribute.INT64SLICE:
		var a int
		b, a = appendOpen(b, anyArray)
		for _, x := range v.AsInt64Slice() {
			b = append(b, listValues<<3|wireLen, byte(1+varintLen(uint64(x))), anyInt<<3|wireVarint)
			b = appendVarint(b, uint64(x))
		}
		b = appendClose(b, a)
	case attribute.FLOAT64SLICE:
		var a int
		b, a = appendOpen(b, anyArray)
		for _, x := range v.AsFloat64Slice() {
			b = append(b, listValues<<3|wireLen, 9, anyDouble<<3|wireI64)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		b = appendClose(b, a)
	case attribute.STRINGSLICE:
		var a int
		b, a = appendOpen(b, anyArray)
		for _, x := range v.AsStringSlice() {
			b = appendTag(b, listValues, wireLen)
			b = appendVarint(b, uint64(1+varintLen(uint64(len(x)))+len(x)))
			b = appendString(b, anyString, x)
		}
		b = appendClose(b, a)
	case attribute.EMPTY:
	default:
		b = appendString(b, anyString, "INVALID")
	}
	return appendClose(b, s), true
}

// appendResource writes a Resource message in field.
func appendResource(b []byte, field int, r *resource.Resource) []byte {
	var s int
	b, s = appendOpen(b, field)
	if r != nil {
		it := r.Iter()
		for it.Next() {
			kv := it.Attribute()
			b = appendKeyValue(b, resAttrs, &kv)
		}
	}
	return appendClose(b, s)
}

// appendScope writes an InstrumentationScope message in field.
func appendScope(b []byte, field int, sc instrumentation.Scope) []byte {
	var s int
	b, s = appendOpen(b, field)
	b = appendStringField(b, scopeName, sc.Name)
	b = appendStringField(b, scopeVer, sc.Version)
	it := sc.Attributes.Iter()
	for it.Next() {
		kv := it.Attribute()
		b = appendKeyValue(b, scopeAttrs, &kv)
	}
	return appendClose(b, s)
}

func clampUint32(v int) uint64 {
	if v < 0 {
		return 0
	}
	if v > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint64(v)
}
