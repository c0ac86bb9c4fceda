package receiver

import (
	"bytes"
	"errors"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// readLimited appends all of rd to buf, failing with errTooLarge past limit bytes. A full buffer
// doubles (append grows large slices by a quarter, copying a 16 MiB body several times over), up
// to want+1 bytes when the sender announced want (its Content-Length; 0: unknown), so memory
// stays within twice what has really arrived.
func readLimited(rd io.Reader, buf []byte, limit, want int) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			n := min(max(2*cap(buf), 4096), limit+1)
			if want >= cap(buf) && want < n {
				n = want + 1 // +1: room to see EOF
			}
			buf = append(make([]byte, 0, n), buf...)
		}
		n, err := rd.Read(buf[len(buf):min(cap(buf), limit+1)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// decompress appends the decoded src to dst, up to r.maxBody bytes: a small body that inflates
// past the limit (a zip bomb) fails with errTooLarge without being inflated further.
func (r *Receiver) decompress(enc string, src, dst []byte) ([]byte, error) {
	switch enc {
	case "gzip":
		zr, _ := r.gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(src))
		} else {
			err = zr.Reset(bytes.NewReader(src))
		}
		if err != nil {
			return dst, err
		}
		defer r.gzipReaders.Put(zr)
		return readLimited(zr, dst, r.maxBody, 0)
	case "deflate", "zlib":
		// HTTP's "deflate" is the zlib format (RFC 9110 8.4.1.2), as the Collector reads it.
		zr, err := zlib.NewReader(bytes.NewReader(src))
		if err != nil {
			return dst, err
		}
		defer zr.Close()
		return readLimited(zr, dst, r.maxBody, 0)
	case "zstd":
		out, err := r.zstd.DecodeAll(src, dst)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) || len(out) > r.maxBody {
			return out, errTooLarge
		}
		return out, err
	}
	return dst, errors.New("unsupported encoding " + enc)
}
