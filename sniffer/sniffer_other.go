//go:build !linux

package sniffer

import "context"

// Sniffer captures Echo Replies; on this system Open always fails with
// ErrUnsupported.
type Sniffer struct{ dec *Decoder }

// Open returns ErrUnsupported: capture needs Linux AF_PACKET.
func Open(cfg Config) (*Sniffer, error) { return nil, ErrUnsupported }

// Run returns ErrUnsupported.
func (s *Sniffer) Run(ctx context.Context, emit func(Reply)) error { return ErrUnsupported }

// RunEvents returns ErrUnsupported.
func (s *Sniffer) RunEvents(ctx context.Context, emit func(Event)) error { return ErrUnsupported }

// Stats returns zero counters.
func (s *Sniffer) Stats() Stats { return Stats{} }

// Close returns nil.
func (s *Sniffer) Close() error { return nil }
