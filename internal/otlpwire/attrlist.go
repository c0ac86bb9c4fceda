package otlpwire

import (
	"bytes"
	"math"
)

// KV is one attribute in wire form: its key and its value, an encoded AnyValue message.
type KV struct {
	Key, Value []byte
}

// AttrList is the attributes of one message as an editable list, for stages that rewrite
// attributes on the wire (see AppendMessage). Its operations follow pdata's Map, so that a
// wire rewrite and a pdata one give the same attributes: Index finds the first match, Remove
// moves the last attribute into the removed one's place. Reuse one list; the slices it holds
// point into the message and into its own arena.
type AttrList struct {
	KVs   []KV
	arena []byte
}

// Load reads the attributes (field num) of message msg.
func (l *AttrList) Load(msg []byte, num int) {
	l.KVs, l.arena = l.KVs[:0], l.arena[:0]
	for mpos := 0; mpos < len(msg); {
		af, ok := readField(msg, &mpos)
		if !ok {
			break
		}
		if af.num != num || af.wt != wtLen {
			continue
		}
		if k, v, ok := splitKV(af.b); ok {
			l.KVs = append(l.KVs, KV{Key: k, Value: v})
			continue
		}
		var kv KV
		n := 0
		for pos := 0; pos < len(af.b); {
			f, ok := readField(af.b, &pos)
			if !ok {
				break
			}
			switch {
			case f.num == 1 && f.wt == wtLen:
				kv.Key = f.b
			case f.num == 2 && f.wt == wtLen:
				if n == 0 {
					kv.Value = f.b
				} else { // occurrences merge: concatenated values are the merged message
					kv.Value = l.Store(append(bytes.Clone(kv.Value), f.b...))
				}
				n++
			}
		}
		l.KVs = append(l.KVs, kv)
	}
}

// Store copies b into the list's arena and returns the copy.
func (l *AttrList) Store(b []byte) []byte {
	from := len(l.arena)
	l.arena = append(l.arena, b...)
	return l.arena[from:len(l.arena):len(l.arena)]
}

// StoreStr stores an AnyValue holding string s and returns it.
func (l *AttrList) StoreStr(s []byte) []byte {
	from := len(l.arena)
	l.arena = append(l.arena, 1<<3|wtLen)
	l.arena = appendVarint(l.arena, uint64(len(s)))
	l.arena = append(l.arena, s...)
	return l.arena[from:len(l.arena):len(l.arena)]
}

// Index returns the index of the first attribute with key, or -1.
func (l *AttrList) Index(key string) int {
	for i := range l.KVs {
		if string(l.KVs[i].Key) == key {
			return i
		}
	}
	return -1
}

// Remove removes attribute i, moving the last one into its place.
func (l *AttrList) Remove(i int) {
	last := len(l.KVs) - 1
	l.KVs[i] = l.KVs[last]
	l.KVs = l.KVs[:last]
}

// ValueOf reads an encoded AnyValue.
func ValueOf(anyValue []byte) Value { return valueOf(msgRef{b: anyValue}) }

// EncodeAnyValue is the AnyValue encoding of a scalar: a string, int64, float64 or bool; nil
// for other types.
func EncodeAnyValue(v any) []byte {
	switch x := v.(type) {
	case string:
		return append(appendVarint([]byte{1<<3 | wtLen}, uint64(len(x))), x...)
	case int64:
		return appendVarint([]byte{3 << 3}, uint64(x))
	case float64:
		b := []byte{4<<3 | wtI64, 0, 0, 0, 0, 0, 0, 0, 0}
		bits := math.Float64bits(x)
		for i := 0; i < 8; i++ {
			b[1+i] = byte(bits >> (8 * i))
		}
		return b
	case bool:
		if x {
			return []byte{2 << 3, 1}
		}
		return []byte{2 << 3, 0}
	}
	return nil
}

// AppendMessage appends to dst message msg with its attributes (field num) replaced by l's.
// The other fields keep their order and bytes; the attributes follow them.
func AppendMessage(dst, msg []byte, num int, l *AttrList) []byte {
	for pos := 0; pos < len(msg); {
		start := pos
		f, ok := readField(msg, &pos)
		if !ok {
			dst = append(dst, msg[start:]...) // not reached on a validated body
			break
		}
		if f.num == num {
			continue
		}
		dst = append(dst, msg[start:pos]...)
	}
	for _, kv := range l.KVs {
		n := 1 + sizeVarint(uint64(len(kv.Key))) + len(kv.Key) + 1 + sizeVarint(uint64(len(kv.Value))) + len(kv.Value)
		dst = appendVarint(dst, uint64(num)<<3|wtLen)
		dst = appendVarint(dst, uint64(n))
		dst = append(dst, 1<<3|wtLen)
		dst = appendVarint(dst, uint64(len(kv.Key)))
		dst = append(dst, kv.Key...)
		dst = append(dst, 2<<3|wtLen)
		dst = appendVarint(dst, uint64(len(kv.Value)))
		dst = append(dst, kv.Value...)
	}
	return dst
}

// The attributes' field numbers in the messages that rewriting stages edit.
const (
	ResourceAttributesField = 1
	SpanAttributesField     = 9
	LogAttributesField      = 6
)
