package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, 100 in the Linux ABI on
// every architecture Go supports.
const userHZ = 100

var errProcFormat = errors.New("unexpected /proc format")

// procCPU returns the user plus system CPU time a live process has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a /proc/PID/stat line. The command
// name (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name: %w", errProcFormat)
	}
	// After ')' come fields 3, 4, …: utime is the 12th of them, stime the 13th.
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name: %w", len(f), errProcFormat)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(string(s), 10, 63)
		if err != nil {
			return 0, fmt.Errorf("stat: %w: %w", errProcFormat, err)
		}
		ticks += n
	}
	if ticks > uint64(1<<62)/uint64(time.Second/userHZ) {
		return 0, fmt.Errorf("stat: %d ticks out of range: %w", ticks, errProcFormat)
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// procPeakRSS returns a live process's peak resident set size in bytes (VmHWM).
func procPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusKB(b, "VmHWM")
}

// procRSS returns a live process's resident set size in bytes (VmRSS).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusKB(b, "VmRSS")
}

// parseStatusKB returns the value of a "Key:   N kB" line of /proc/PID/status, in bytes.
func parseStatusKB(b []byte, key string) (int64, error) {
	prefix := []byte(key + ":")
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("status: %s: %q: %w", key, bytes.TrimSpace(line), errProcFormat)
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || n < 0 || n > 1<<53 {
			return 0, fmt.Errorf("status: %s: %q: %w", key, f[0], errProcFormat)
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("status: no %s line: %w", key, errProcFormat)
}

// ioBytes are the storage counters of /proc/PID/io.
type ioBytes struct {
	Write     int64 // write_bytes: bytes the process caused to be sent to storage (page cache included)
	Cancelled int64 // cancelled_write_bytes: of those, dropped before writeback (truncated files)
}

// procIO returns a live process's storage write counters.
func procIO(pid int) (ioBytes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return ioBytes{}, err
	}
	return parseIO(b)
}

// parseIO reads write_bytes and cancelled_write_bytes from /proc/PID/io ("key: N" lines).
func parseIO(b []byte) (ioBytes, error) {
	var v ioBytes
	var seen uint8 // bit 0: write_bytes, bit 1: cancelled_write_bytes
	for line := range bytes.Lines(b) {
		key, val, ok := bytes.Cut(bytes.TrimSpace(line), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		var bit uint8
		switch string(key) {
		case "write_bytes":
			dst, bit = &v.Write, 1
		case "cancelled_write_bytes":
			dst, bit = &v.Cancelled, 2
		default:
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(val)), 10, 64)
		if err != nil || n < 0 {
			return ioBytes{}, fmt.Errorf("io: %q: %w", bytes.TrimSpace(line), errProcFormat)
		}
		*dst = n
		seen |= bit
	}
	if seen != 3 {
		return ioBytes{}, fmt.Errorf("io: write_bytes or cancelled_write_bytes missing: %w", errProcFormat)
	}
	return v, nil
}
