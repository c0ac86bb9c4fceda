package probsampler

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The OpenTelemetry consistent-probability sampling arithmetic (W3C Trace Context level 2
// randomness, the `ot=th` threshold of the OpenTelemetry tracestate): randomness R and
// threshold T are 56-bit numbers, and an item is sampled when R >= T; T = (1-p)·2^56.

const (
	maxAdjusted  = uint64(1) << 56
	numHexDigits = 14
	minProb      = 1.0 / float64(maxAdjusted)
)

// threshold is a rejection threshold; always (0) samples everything, never (2^56) nothing.
type threshold uint64

const (
	alwaysSample threshold = 0
	neverSample  threshold = threshold(maxAdjusted)
)

func (t threshold) probability() float64 {
	return float64(maxAdjusted-uint64(t)) / float64(maxAdjusted)
}

func (t threshold) samples(r uint64) bool { return r >= uint64(t) }

// hex is the tracestate encoding: up to 14 hex digits, trailing zeros dropped ("0" for 100%).
func (t threshold) hex() string {
	if t == alwaysSample {
		return "0"
	}
	s := fmt.Sprintf("%014x", uint64(t))
	return strings.TrimRight(s, "0")
}

func parseThreshold(s string) (threshold, error) {
	if s == "" || len(s) > numHexDigits {
		return 0, fmt.Errorf("threshold %q: want 1 to 14 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("threshold %q: %w", s, err)
	}
	return threshold(v << (4 * (numHexDigits - len(s)))), nil
}

func parseRandomness(s string) (uint64, error) {
	if len(s) != numHexDigits {
		return 0, fmt.Errorf("randomness %q: want 14 hex digits", s)
	}
	return strconv.ParseUint(s, 16, 64)
}

var errRange = errors.New("probability below the smallest representable")

// probabilityThreshold converts p to a threshold rounded to prec significant hex digits
// (0: full precision). Digits that only say "nearly all" or "nearly none" do not count
// against prec: a rejection probability below 1/16, and likewise a sampling probability
// below 1/16, each leading hex digit of it adds one (as the Collector v0.161 computes it,
// measured in test/compare).
func probabilityThreshold(p float64, prec int) (threshold, error) {
	if p < minProb || p > 1 {
		return alwaysSample, errRange
	}
	if p == 1 {
		return alwaysSample, nil
	}
	scaled := uint64(math.Round(p * float64(maxAdjusted)))
	reject := maxAdjusted - scaled
	if prec == 0 {
		return threshold(reject), nil
	}
	for r := 1 - p; r*16 < 1; r *= 16 {
		prec++
	}
	for q := p; q*16 < 1; q *= 16 {
		prec++
	}
	if prec >= numHexDigits {
		return threshold(reject), nil // every digit is significant: nothing to round
	}
	shift := 4 * (numHexDigits - prec)
	reject += uint64(1) << (shift - 1)
	reject >>= shift
	reject <<= shift
	return threshold(reject), nil
}

// traceIDRandomness is the least significant 56 bits of the trace ID.
func traceIDRandomness(id pcommon.TraceID) uint64 {
	var r uint64
	for _, b := range id[9:16] {
		r = r<<8 | uint64(b)
	}
	return r
}

// otState is a W3C tracestate with its OpenTelemetry ("ot") entry taken apart.
type otState struct {
	th, rv       string
	thSet, rvSet bool
	otExtra      []string // other ot sub-keys, as written
	others       []string // other vendors' entries, in order
}

func parseTraceState(raw string) (otState, error) {
	var st otState
	if strings.TrimSpace(raw) == "" {
		return st, nil
	}
	for _, member := range strings.Split(raw, ",") {
		member = strings.TrimSpace(member)
		if member == "" {
			continue
		}
		key, val, ok := strings.Cut(member, "=")
		if !ok {
			return st, fmt.Errorf("tracestate member %q has no '='", member)
		}
		if key != "ot" {
			st.others = append(st.others, member)
			continue
		}
		for _, kv := range strings.Split(val, ";") {
			k, v, ok := strings.Cut(kv, ":")
			if !ok {
				return st, fmt.Errorf("tracestate ot entry %q: want key:value", kv)
			}
			switch k {
			case "th":
				if _, err := parseThreshold(v); err != nil {
					return st, err
				}
				st.th, st.thSet = v, true
			case "rv":
				if _, err := parseRandomness(v); err != nil {
					return st, err
				}
				st.rv, st.rvSet = v, true
			default:
				st.otExtra = append(st.otExtra, kv)
			}
		}
	}
	return st, nil
}

func (st otState) String() string {
	var ot []string // rv before th, as the Collector writes them
	if st.rvSet {
		ot = append(ot, "rv:"+st.rv)
	}
	if st.thSet {
		ot = append(ot, "th:"+st.th)
	}
	ot = append(ot, st.otExtra...)
	var members []string
	if len(ot) > 0 {
		members = append(members, "ot="+strings.Join(ot, ";"))
	}
	members = append(members, st.others...)
	return strings.Join(members, ",")
}
