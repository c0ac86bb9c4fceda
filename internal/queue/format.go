package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// On-disk layout; docs/queue-format.md is the reference and must change with this file.
const (
	segMagic      = "OTLPQSEG"
	segVersion    = 1
	segHeaderSize = 32
	segRecycled   = 1 // segment header flag: the file held an earlier segment

	// endMarkerSize zero bytes follow every append; the next record overwrites them. They mark
	// a clean end of data, which a recycled file needs since its old contents follow.
	endMarkerSize = recHeaderSize

	recMagic      = "OTQR"
	recHeaderSize = 40
	// maxPayload bounds one record whatever the configuration, so that a damaged length field
	// can never make the reader allocate more than this.
	maxPayload = 1 << 30
	// maxID keeps ids (and ids+1) far from overflow even when a file is crafted.
	maxID = 1 << 62

	ackMagic      = "OTLPQACK"
	ackVersion    = 1
	ackHeaderSize = 16
	ackEntrySize  = 16

	ackTypeWatermark = 1 // every id below this one is settled
	ackTypeSettled   = 2 // this id is settled (acknowledged or dropped)
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	le         = binary.LittleEndian
)

// Reasons a record header is rejected; all of them mean "not a record here".
var (
	errBadMagic    = errors.New("bad magic")
	errHeaderCRC   = errors.New("header checksum mismatch")
	errPayloadCRC  = errors.New("payload checksum mismatch")
	errBadLength   = errors.New("payload length out of range")
	errBadReserved = errors.New("reserved bytes not zero")
	errBadID       = errors.New("record id out of range")
)

// recHeader is the fixed 40-byte header in front of every payload.
type recHeader struct {
	id      uint64
	enqNano int64
	length  uint32
	crc     uint32 // CRC32C of the payload
	items   uint32
	signal  uint8
}

// encode writes h into b[:recHeaderSize], header checksum included.
func (h *recHeader) encode(b []byte) {
	_ = b[recHeaderSize-1]
	copy(b[0:4], recMagic)
	le.PutUint64(b[8:], h.id)
	le.PutUint64(b[16:], uint64(h.enqNano))
	le.PutUint32(b[24:], h.length)
	le.PutUint32(b[28:], h.crc)
	le.PutUint32(b[32:], h.items)
	b[36] = h.signal
	b[37], b[38], b[39] = 0, 0, 0
	le.PutUint32(b[4:], crc32.Checksum(b[8:recHeaderSize], castagnoli))
}

// decodeHeader parses and checks a record header. It does not look at the payload.
func decodeHeader(b []byte) (recHeader, error) {
	if len(b) < recHeaderSize {
		return recHeader{}, errBadLength
	}
	if string(b[0:4]) != recMagic {
		return recHeader{}, errBadMagic
	}
	if le.Uint32(b[4:]) != crc32.Checksum(b[8:recHeaderSize], castagnoli) {
		return recHeader{}, errHeaderCRC
	}
	h := recHeader{
		id:      le.Uint64(b[8:]),
		enqNano: int64(le.Uint64(b[16:])),
		length:  le.Uint32(b[24:]),
		crc:     le.Uint32(b[28:]),
		items:   le.Uint32(b[32:]),
		signal:  b[36],
	}
	switch {
	case b[37] != 0 || b[38] != 0 || b[39] != 0:
		return recHeader{}, errBadReserved
	case h.length > maxPayload:
		return recHeader{}, errBadLength
	case h.id == 0 || h.id >= maxID:
		return recHeader{}, errBadID
	}
	return h, nil
}

// checkPayload verifies payload against the checksum in h.
func (h *recHeader) checkPayload(payload []byte) error {
	if uint32(len(payload)) != h.length {
		return errBadLength
	}
	if crc32.Checksum(payload, castagnoli) != h.crc {
		return errPayloadCRC
	}
	return nil
}

// segHeader is the 32-byte header of a segment file.
type segHeader struct {
	firstID uint64 // every record of this segment has an id at least this
	flags   uint32 // segRecycled
}

// encode returns the header followed by an end marker.
func (h segHeader) encode() []byte {
	b := make([]byte, segHeaderSize+endMarkerSize)
	copy(b, segMagic)
	le.PutUint32(b[8:], segVersion)
	le.PutUint64(b[16:], h.firstID)
	le.PutUint32(b[24:], h.flags)
	le.PutUint32(b[12:], crc32.Checksum(b[16:segHeaderSize], castagnoli))
	return b
}

// decodeSegHeader parses a segment header; ok is false when it is damaged.
func decodeSegHeader(b []byte) (h segHeader, ok bool, err error) {
	if ok, err := checkFileHeader(b, segMagic, segVersion); !ok || err != nil {
		return h, false, err
	}
	if len(b) < segHeaderSize || le.Uint32(b[12:]) != crc32.Checksum(b[16:segHeaderSize], castagnoli) {
		return h, false, nil
	}
	h = segHeader{firstID: le.Uint64(b[16:]), flags: le.Uint32(b[24:])}
	if h.firstID >= maxID || h.flags&^segRecycled != 0 || le.Uint32(b[28:]) != 0 {
		return segHeader{}, false, nil
	}
	return h, true, nil
}

// errNewerFormat refuses files written by a newer version: better to stop than to misread them.
var errNewerFormat = errors.New("written by a newer format version")

// checkFileHeader checks a segment or ack file header. ok is false when the header is
// damaged (not ours); err is set only when it is ours but of a version we cannot read.
func checkFileHeader(b []byte, magic string, version uint32) (ok bool, err error) {
	if len(b) < 16 || string(b[:8]) != magic {
		return false, nil
	}
	if v := le.Uint32(b[8:]); v != version {
		if v > version {
			return false, fmt.Errorf("version %d: %w", v, errNewerFormat)
		}
		return false, nil
	}
	return true, nil
}

// encodeAck writes one 16-byte ack-log entry into b.
func encodeAck(b []byte, typ byte, id uint64) {
	_ = b[ackEntrySize-1]
	b[0], b[1], b[2], b[3] = typ, 0, 0, 0
	le.PutUint64(b[8:], id)
	le.PutUint32(b[4:], ackCRC(b))
}

// decodeAck parses one ack-log entry; ok is false for a damaged or unknown entry.
func decodeAck(b []byte) (typ byte, id uint64, ok bool) {
	if len(b) < ackEntrySize || le.Uint32(b[4:]) != ackCRC(b) || b[1] != 0 || b[2] != 0 || b[3] != 0 {
		return 0, 0, false
	}
	typ, id = b[0], le.Uint64(b[8:])
	if (typ != ackTypeWatermark && typ != ackTypeSettled) || id >= maxID {
		return 0, 0, false
	}
	return typ, id, true
}

func ackCRC(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[0:4])
	return crc32.Update(c, castagnoli, b[8:16])
}
