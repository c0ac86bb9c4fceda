package main

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sumSeries adds up the values of every series of metric in a Prometheus text exposition whose
// labels include all of want. found is false when no series matched.
func sumSeries(text []byte, metric string, want map[string]string) (sum float64, found bool, err error) {
	for line := range bytes.Lines(text) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name, labels, value, err := parseSample(string(line))
		if err != nil {
			return 0, false, err
		}
		if name != metric || !hasLabels(labels, want) {
			continue
		}
		sum += value
		found = true
	}
	return sum, found, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// parseSample splits one sample line: name{k="v",…} value [timestamp].
func parseSample(line string) (name string, labels map[string]string, value float64, err error) {
	end := strings.IndexAny(line, "{ \t")
	if end <= 0 {
		return "", nil, 0, fmt.Errorf("sample %q: no name", line)
	}
	name, rest := line[:end], line[end:]
	if rest[0] == '{' {
		labels, rest, err = parseLabels(rest[1:])
		if err != nil {
			return "", nil, 0, fmt.Errorf("sample %q: %w", line, err)
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return "", nil, 0, fmt.Errorf("sample %q: want a value and an optional timestamp", line)
	}
	value, err = strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", nil, 0, fmt.Errorf("sample %q: %w", line, err)
	}
	if math.IsNaN(value) {
		value = 0
	}
	return name, labels, value, nil
}

// parseLabels reads k="v" pairs up to the closing '}' and returns what follows it.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		if s == "" {
			return nil, "", fmt.Errorf("labels: no closing brace")
		}
		if s[0] == '}' {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return nil, "", fmt.Errorf("labels: want name=\"value\" at %q", s)
		}
		key := strings.TrimSpace(s[:eq])
		val, n, err := unquote(s[eq+1:])
		if err != nil {
			return nil, "", err
		}
		labels[key] = val
		s = s[eq+1+n:]
	}
}

// unquote reads a double-quoted label value with the exposition format's escapes (\\, \", \n)
// and returns it with the number of bytes consumed.
func unquote(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			i++
			if i == len(s) {
				return "", 0, fmt.Errorf("labels: unterminated escape")
			}
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("labels: unterminated value")
}
