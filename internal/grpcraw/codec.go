// Package grpcraw carries OTLP export requests over gRPC as raw protobuf bytes, so that the
// receiver and the otlp exporter never decode what no pipeline stage needs.
package grpcraw

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Full method names of the three OTLP Export RPCs.
const (
	TracesMethod  = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
	MetricsMethod = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
	LogsMethod    = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
)

// Frame is a message body in protobuf wire form. Unmarshal reuses Body's capacity.
type Frame struct {
	Body []byte
}

// Codec marshals *Frame as its bytes and falls back to protobuf for proto.Message values, so a
// server forced to this codec can still serve ordinary services. Its name is "proto": peers see
// the standard content type.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// Name reports "proto" so that the wire content-type stays application/grpc+proto.
func (Codec) Name() string { return "proto" }

// Marshal returns f.Body without copying for *Frame.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *Frame:
		return mem.BufferSlice{mem.SliceBuffer(m.Body)}, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return nil, fmt.Errorf("grpcraw: cannot marshal %T", v)
}

// Unmarshal copies the received bytes into f.Body (the buffers are freed after return).
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *Frame:
		n := data.Len()
		if cap(m.Body) < n {
			m.Body = make([]byte, n)
		}
		m.Body = m.Body[:n]
		data.CopyTo(m.Body)
		return nil
	case proto.Message:
		return proto.Unmarshal(data.Materialize(), m)
	}
	return fmt.Errorf("grpcraw: cannot unmarshal into %T", v)
}
