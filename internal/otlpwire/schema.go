package otlpwire

// The schema below mirrors the OTLP protos (opentelemetry-proto v1, as decoded by pdata) field by
// field: for each known field, the wire type it must use and, for messages, how to walk inside.
// Scan is at least as strict as pdata's decoder on every field, so a body Scan accepts decodes.

type kind uint8

const (
	kUnknown      kind = iota // not a known field: skipped
	kVarint                   // int32/int64/uint32/uint64/bool/enum/sint32
	kI64                      // fixed64/sfixed64/double
	kI32                      // fixed32
	kBytes                    // string or bytes (OTLP decoders do not check UTF-8)
	kMsg                      // nested message, walked with desc
	kPackedI64                // repeated fixed64/double: packed or not
	kPackedVarint             // repeated uint64: packed or not
	kTraceID                  // bytes of length 0 or 16
	kSpanID                   // bytes of length 0 or 8
)

type msgID uint8

const (
	mNone msgID = iota
	mResource
	mEntityRef
	mScope
	mKeyValue
	mAnyValue
	mArrayValue
	mKeyValueList
	mSpan
	mEvent
	mLink
	mStatus
	mMetric
	mGauge
	mSum
	mHistogram
	mExpHistogram
	mSummary
	mNumberDP
	mHistogramDP
	mExpHistogramDP
	mBuckets
	mSummaryDP
	mQuantile
	mExemplar
	mLogRecord
	numMsgs
)

type fieldDesc struct {
	name     string
	kind     kind
	repeated bool  // error paths carry an index
	counted  bool  // occurrences are the message's item count (data_points)
	data     bool  // a oneof whose item count becomes the message's: the last one wins
	msg      msgID // for kMsg
}

// maxKnownField bounds the field numbers of every walked message (span flags is 16).
const maxKnownField = 16

type msgDesc struct {
	fields [maxKnownField + 1]fieldDesc
}

func scalar(name string, k kind) fieldDesc    { return fieldDesc{name: name, kind: k} }
func repScalar(name string, k kind) fieldDesc { return fieldDesc{name: name, kind: k, repeated: true} }
func msg(name string, m msgID) fieldDesc      { return fieldDesc{name: name, kind: kMsg, msg: m} }
func repMsg(name string, m msgID) fieldDesc {
	return fieldDesc{name: name, kind: kMsg, msg: m, repeated: true}
}
func dataPoints(name string, m msgID) fieldDesc {
	return fieldDesc{name: name, kind: kMsg, msg: m, repeated: true, counted: true}
}

// metricData is one member of Metric's data oneof. pdata keeps only the last one it reads.
func metricData(name string, m msgID) fieldDesc {
	return fieldDesc{name: name, kind: kMsg, msg: m, data: true}
}

// descs is read-only after package initialisation.
var descs = [numMsgs]msgDesc{
	mResource: {fields: [maxKnownField + 1]fieldDesc{
		1: repMsg("attributes", mKeyValue),
		2: scalar("dropped_attributes_count", kVarint),
		3: repMsg("entity_refs", mEntityRef),
	}},
	mEntityRef: {fields: [maxKnownField + 1]fieldDesc{
		1: scalar("schema_url", kBytes),
		2: scalar("type", kBytes),
		3: repScalar("id_keys", kBytes),
		4: repScalar("description_keys", kBytes),
	}},
	mScope: {fields: [maxKnownField + 1]fieldDesc{
		1: scalar("name", kBytes),
		2: scalar("version", kBytes),
		3: repMsg("attributes", mKeyValue),
		4: scalar("dropped_attributes_count", kVarint),
	}},
	mKeyValue: {fields: [maxKnownField + 1]fieldDesc{
		1: scalar("key", kBytes),
		2: msg("value", mAnyValue),
		3: scalar("key_strindex", kVarint),
	}},
	mAnyValue: {fields: [maxKnownField + 1]fieldDesc{
		1: scalar("string_value", kBytes),
		2: scalar("bool_value", kVarint),
		3: scalar("int_value", kVarint),
		4: scalar("double_value", kI64),
		5: msg("array_value", mArrayValue),
		6: msg("kvlist_value", mKeyValueList),
		7: scalar("bytes_value", kBytes),
		8: scalar("string_value_strindex", kVarint),
	}},
	mArrayValue: {fields: [maxKnownField + 1]fieldDesc{
		1: repMsg("values", mAnyValue),
	}},
	mKeyValueList: {fields: [maxKnownField + 1]fieldDesc{
		1: repMsg("values", mKeyValue),
	}},
	mSpan: {fields: [maxKnownField + 1]fieldDesc{
		1:  scalar("trace_id", kTraceID),
		2:  scalar("span_id", kSpanID),
		3:  scalar("trace_state", kBytes),
		4:  scalar("parent_span_id", kSpanID),
		5:  scalar("name", kBytes),
		6:  scalar("kind", kVarint),
		7:  scalar("start_time_unix_nano", kI64),
		8:  scalar("end_time_unix_nano", kI64),
		9:  repMsg("attributes", mKeyValue),
		10: scalar("dropped_attributes_count", kVarint),
		11: repMsg("events", mEvent),
		12: scalar("dropped_events_count", kVarint),
		13: repMsg("links", mLink),
		14: scalar("dropped_links_count", kVarint),
		15: msg("status", mStatus),
		16: scalar("flags", kI32),
	}},
	mEvent: {fields: [maxKnownField + 1]fieldDesc{
		1: scalar("time_unix_nano", kI64),
		2: scalar("name", kBytes),
		3: repMsg("attributes", mKeyValue),
		4: scalar("dropped_attributes_count", kVarint),
	}},
	mLink: {fields: [maxKnownField + 1]fieldDesc{
		1: scalar("trace_id", kTraceID),
		2: scalar("span_id", kSpanID),
		3: scalar("trace_state", kBytes),
		4: repMsg("attributes", mKeyValue),
		5: scalar("dropped_attributes_count", kVarint),
		6: scalar("flags", kI32),
	}},
	mStatus: {fields: [maxKnownField + 1]fieldDesc{
		2: scalar("message", kBytes),
		3: scalar("code", kVarint),
	}},
	mMetric: {fields: [maxKnownField + 1]fieldDesc{
		1:  scalar("name", kBytes),
		2:  scalar("description", kBytes),
		3:  scalar("unit", kBytes),
		5:  metricData("gauge", mGauge),
		7:  metricData("sum", mSum),
		9:  metricData("histogram", mHistogram),
		10: metricData("exponential_histogram", mExpHistogram),
		11: metricData("summary", mSummary),
		12: repMsg("metadata", mKeyValue),
	}},
	mGauge: {fields: [maxKnownField + 1]fieldDesc{
		1: dataPoints("data_points", mNumberDP),
	}},
	mSum: {fields: [maxKnownField + 1]fieldDesc{
		1: dataPoints("data_points", mNumberDP),
		2: scalar("aggregation_temporality", kVarint),
		3: scalar("is_monotonic", kVarint),
	}},
	mHistogram: {fields: [maxKnownField + 1]fieldDesc{
		1: dataPoints("data_points", mHistogramDP),
		2: scalar("aggregation_temporality", kVarint),
	}},
	mExpHistogram: {fields: [maxKnownField + 1]fieldDesc{
		1: dataPoints("data_points", mExpHistogramDP),
		2: scalar("aggregation_temporality", kVarint),
	}},
	mSummary: {fields: [maxKnownField + 1]fieldDesc{
		1: dataPoints("data_points", mSummaryDP),
	}},
	mNumberDP: {fields: [maxKnownField + 1]fieldDesc{
		2: scalar("start_time_unix_nano", kI64),
		3: scalar("time_unix_nano", kI64),
		4: scalar("as_double", kI64),
		5: repMsg("exemplars", mExemplar),
		6: scalar("as_int", kI64),
		7: repMsg("attributes", mKeyValue),
		8: scalar("flags", kVarint),
	}},
	mHistogramDP: {fields: [maxKnownField + 1]fieldDesc{
		2:  scalar("start_time_unix_nano", kI64),
		3:  scalar("time_unix_nano", kI64),
		4:  scalar("count", kI64),
		5:  scalar("sum", kI64),
		6:  repScalar("bucket_counts", kPackedI64),
		7:  repScalar("explicit_bounds", kPackedI64),
		8:  repMsg("exemplars", mExemplar),
		9:  repMsg("attributes", mKeyValue),
		10: scalar("flags", kVarint),
		11: scalar("min", kI64),
		12: scalar("max", kI64),
	}},
	mExpHistogramDP: {fields: [maxKnownField + 1]fieldDesc{
		1:  repMsg("attributes", mKeyValue),
		2:  scalar("start_time_unix_nano", kI64),
		3:  scalar("time_unix_nano", kI64),
		4:  scalar("count", kI64),
		5:  scalar("sum", kI64),
		6:  scalar("scale", kVarint),
		7:  scalar("zero_count", kI64),
		8:  msg("positive", mBuckets),
		9:  msg("negative", mBuckets),
		10: scalar("flags", kVarint),
		11: repMsg("exemplars", mExemplar),
		12: scalar("min", kI64),
		13: scalar("max", kI64),
		14: scalar("zero_threshold", kI64),
	}},
	mBuckets: {fields: [maxKnownField + 1]fieldDesc{
		1: scalar("offset", kVarint),
		2: repScalar("bucket_counts", kPackedVarint),
	}},
	mSummaryDP: {fields: [maxKnownField + 1]fieldDesc{
		2: scalar("start_time_unix_nano", kI64),
		3: scalar("time_unix_nano", kI64),
		4: scalar("count", kI64),
		5: scalar("sum", kI64),
		6: repMsg("quantile_values", mQuantile),
		7: repMsg("attributes", mKeyValue),
		8: scalar("flags", kVarint),
	}},
	mQuantile: {fields: [maxKnownField + 1]fieldDesc{
		1: scalar("quantile", kI64),
		2: scalar("value", kI64),
	}},
	mExemplar: {fields: [maxKnownField + 1]fieldDesc{
		2: scalar("time_unix_nano", kI64),
		3: scalar("as_double", kI64),
		4: scalar("span_id", kSpanID),
		5: scalar("trace_id", kTraceID),
		6: scalar("as_int", kI64),
		7: repMsg("filtered_attributes", mKeyValue),
	}},
	mLogRecord: {fields: [maxKnownField + 1]fieldDesc{
		1:  scalar("time_unix_nano", kI64),
		2:  scalar("severity_number", kVarint),
		3:  scalar("severity_text", kBytes),
		5:  msg("body", mAnyValue),
		6:  repMsg("attributes", mKeyValue),
		7:  scalar("dropped_attributes_count", kVarint),
		8:  scalar("flags", kI32),
		9:  scalar("trace_id", kTraceID),
		10: scalar("span_id", kSpanID),
		11: scalar("observed_time_unix_nano", kI64),
		12: scalar("event_name", kBytes),
	}},
}
