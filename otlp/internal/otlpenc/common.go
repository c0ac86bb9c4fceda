package otlpenc

import (
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

// keyValues writes attrs as repeated KeyValue field.
func (w *buf) keyValues(field int, attrs []attribute.KeyValue) {
	for _, kv := range attrs {
		s := w.open(field)
		w.stringField(kvKey, string(kv.Key))
		w.attrValue(kvValue, kv.Value)
		w.close(s)
	}
}

// attrValue writes v as an AnyValue message in field. A oneof member is written even when it
// holds its zero value, so false, 0 and "" survive.
func (w *buf) attrValue(field int, v attribute.Value) {
	s := w.open(field)
	switch v.Type() {
	case attribute.BOOL:
		w.boolOneof(v.AsBool())
	case attribute.INT64:
		w.intOneof(v.AsInt64())
	case attribute.FLOAT64:
		w.doubleOneof(v.AsFloat64())
	case attribute.STRING:
		w.stringOneof(anyString, v.AsString())
	case attribute.BYTESLICE:
		w.stringOneof(anyBytes, string(v.AsByteSlice()))
	case attribute.BOOLSLICE:
		a := w.open(anyArray)
		for _, x := range v.AsBoolSlice() {
			e := w.open(listValues)
			w.boolOneof(x)
			w.close(e)
		}
		w.close(a)
	case attribute.INT64SLICE:
		a := w.open(anyArray)
		for _, x := range v.AsInt64Slice() {
			e := w.open(listValues)
			w.intOneof(x)
			w.close(e)
		}
		w.close(a)
	case attribute.FLOAT64SLICE:
		a := w.open(anyArray)
		for _, x := range v.AsFloat64Slice() {
			e := w.open(listValues)
			w.doubleOneof(x)
			w.close(e)
		}
		w.close(a)
	case attribute.STRINGSLICE:
		a := w.open(anyArray)
		for _, x := range v.AsStringSlice() {
			e := w.open(listValues)
			w.stringOneof(anyString, x)
			w.close(e)
		}
		w.close(a)
	case attribute.SLICE:
		a := w.open(anyArray)
		for _, x := range v.AsSlice() {
			w.attrValue(listValues, x)
		}
		w.close(a)
	case attribute.MAP:
		a := w.open(anyKVList)
		w.keyValues(listValues, v.AsMap())
		w.close(a)
	case attribute.EMPTY:
	default:
		w.stringOneof(anyString, "INVALID")
	}
	w.close(s)
}

func (w *buf) boolOneof(b bool) {
	w.tag(anyBool, wireVarint)
	if b {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *buf) intOneof(i int64) {
	w.tag(anyInt, wireVarint)
	w.varint(uint64(i))
}

func (w *buf) doubleOneof(f float64) {
	w.tag(anyDouble, wireI64)
	w.b = appendFixed64(w.b, float64Bits(f))
}

func (w *buf) stringOneof(field int, s string) {
	w.tag(field, wireLen)
	w.varint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func appendFixed64(b []byte, v uint64) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}

// resource writes a Resource message in field.
func (w *buf) resource(field int, r *resource.Resource) {
	s := w.open(field)
	if r != nil {
		it := r.Iter()
		for it.Next() {
			kv := it.Attribute()
			e := w.open(resAttrs)
			w.stringField(kvKey, string(kv.Key))
			w.attrValue(kvValue, kv.Value)
			w.close(e)
		}
	}
	w.close(s)
}

// scope writes an InstrumentationScope message in field.
func (w *buf) scope(field int, sc instrumentation.Scope) {
	s := w.open(field)
	w.stringField(scopeName, sc.Name)
	w.stringField(scopeVer, sc.Version)
	it := sc.Attributes.Iter()
	for it.Next() {
		kv := it.Attribute()
		e := w.open(scopeAttrs)
		w.stringField(kvKey, string(kv.Key))
		w.attrValue(kvValue, kv.Value)
		w.close(e)
	}
	w.close(s)
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
