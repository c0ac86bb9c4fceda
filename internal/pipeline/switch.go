package pipeline

import (
	"context"
	"errors"
	"sync"
)

// ErrNoConsumer refuses data while a Switch has no target (before start, after stop).
var ErrNoConsumer = errors.New("pipeline: not running")

// Switch is a Consumer whose target can be replaced at run time (configuration reload).
// Set waits until every Consume already running against the old target has returned, so the
// caller may shut the old target down as soon as Set returns and nothing is lost in between.
type Switch struct {
	mu     sync.RWMutex
	target Consumer // guarded by mu
}

// Consume forwards to the current target.
func (s *Switch) Consume(ctx context.Context, b Batch) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.target == nil {
		return ErrNoConsumer
	}
	return s.target.Consume(ctx, b)
}

// Set replaces the target (nil refuses data) and returns the previous one.
func (s *Switch) Set(c Consumer) Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.target
	s.target = c
	return old
}
