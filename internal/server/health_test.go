package server

import (
	"strings"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
)

type statusOnly struct {
	component.Exporter
	st sender.Status
}

func (s statusOnly) Status() sender.Status { return s.st }
func (s statusOnly) Healthy() bool         { return s.st.Healthy }

// An exporter whose disk queue directory another process holds past the grace does not accept
// data, and /ready says why; a brief wait (a reload's replacement) does not count.
func TestLockedDiskQueueIsNotAccepting(t *testing.T) {
	for _, c := range []struct {
		locked    time.Duration
		accepting bool
	}{{0, true}, {time.Second, true}, {lockedGrace + time.Second, false}} {
		st := stateOf(statusOnly{st: sender.Status{Healthy: true, Durable: true, LockedFor: c.locked}})
		if st.accepting != c.accepting {
			t.Errorf("locked for %v: accepting %v, want %v (%v)", c.locked, st.accepting, c.accepting, st.problem)
		}
		if !c.accepting && (st.problem == nil || !strings.Contains(st.problem.Error(), "locked by another process")) {
			t.Errorf("locked for %v: problem %v", c.locked, st.problem)
		}
	}
}

// An exporter whose disk queue cannot write (its file system full) does not accept data, and
// /ready names the cause.
func TestDiskQueueWriteFailureIsNotAccepting(t *testing.T) {
	st := stateOf(statusOnly{st: sender.Status{Healthy: true, Durable: true,
		WriteError: "queue: write: no space left on device", WriteFailingSince: time.Now().Add(-3 * time.Second)}})
	if st.accepting || st.problem == nil || !strings.Contains(st.problem.Error(), "no space left on device") {
		t.Fatalf("accepting %v, problem %v", st.accepting, st.problem)
	}
	if st := stateOf(statusOnly{st: sender.Status{Healthy: true, Durable: true}}); !st.accepting {
		t.Fatalf("a queue that writes is not accepting: %v", st.problem)
	}
}
