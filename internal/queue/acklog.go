package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	ackFile    = "acks"
	ackTmpFile = "acks.tmp"
)

// ackState is what the ack log says is settled.
type ackState struct {
	watermark uint64              // every id below is settled
	settled   map[uint64]struct{} // settled ids at or above watermark
	minNext   uint64              // the next id must be at least this, so ids are never reused
	damaged   int                 // entries skipped as unreadable
}

func (a *ackState) isSettled(id uint64) bool {
	if id < a.watermark {
		return true
	}
	_, ok := a.settled[id]
	return ok
}

// readAcks loads the ack log of dir. A missing file is an empty state; damaged entries are
// skipped (an ack that cannot be read only means a redelivery).
func readAcks(dir string) (ackState, error) {
	st := ackState{settled: map[uint64]struct{}{}}
	b, err := os.ReadFile(filepath.Join(dir, ackFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("queue: read ack log: %w", err)
	}
	ok, err := checkFileHeader(b, ackMagic, ackVersion)
	if err != nil {
		return st, fmt.Errorf("queue: ack log: %w", err)
	}
	if !ok {
		st.damaged = (len(b) + ackEntrySize - 1) / ackEntrySize
		return st, nil
	}
	b = b[ackHeaderSize:]
	for ; len(b) >= ackEntrySize; b = b[ackEntrySize:] {
		typ, id, ok := decodeAck(b)
		if !ok {
			st.damaged++
			continue
		}
		if typ == ackTypeWatermark {
			st.watermark = max(st.watermark, id)
			st.minNext = max(st.minNext, id) // the watermark itself may be unused
			continue
		}
		st.settled[id] = struct{}{}
		st.minNext = max(st.minNext, id+1)
	}
	if len(b) > 0 {
		st.damaged++
	}
	for id := range st.settled {
		if id < st.watermark {
			delete(st.settled, id)
		}
	}
	return st, nil
}

// writeAckCheckpoint replaces the ack log of dir with one holding watermark and settled,
// atomically (write a temporary file, rename). The returned file is open for appending.
// With durable, the file and the directory are fsynced before returning.
func writeAckCheckpoint(dir string, watermark uint64, settled []uint64, durable bool) (*os.File, error) {
	tmp := filepath.Join(dir, ackTmpFile)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("queue: ack checkpoint: %w", err)
	}
	fail := func(err error) (*os.File, error) {
		return nil, errors.Join(fmt.Errorf("queue: ack checkpoint: %w", err), f.Close(), os.Remove(tmp))
	}
	b := make([]byte, ackHeaderSize+ackEntrySize*(1+len(settled)))
	copy(b, ackMagic)
	le.PutUint32(b[8:], ackVersion)
	e := b[ackHeaderSize:]
	encodeAck(e, ackTypeWatermark, watermark)
	for i, id := range settled {
		encodeAck(e[ackEntrySize*(i+1):], ackTypeSettled, id)
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if durable {
		if err := syncData(f); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(dir, ackFile)); err != nil {
		return fail(err)
	}
	if durable {
		if err := syncDir(dir); err != nil {
			return nil, errors.Join(fmt.Errorf("queue: ack checkpoint: %w", err), f.Close())
		}
	}
	return f, nil
}

// syncDir makes creations, renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
