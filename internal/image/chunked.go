package image

import "io"

// spoolChunk is how much of a download is read before it is written.
const spoolChunk = 1 << 20

// copyChunked copies r to w in chunks of up to spoolChunk bytes, reading
// the next chunk while the last is written: the download (TLS, the
// network) and the work on what came (hash, disk) run side by side
// instead of in turn, and the disk gets a few large writes instead of one
// per TLS record.
func copyChunked(w io.Writer, r io.Reader) (int64, error) {
	const buffers = 3
	type chunk struct {
		b   []byte
		err error
	}
	free := make(chan []byte, buffers)
	for i := 0; i < buffers; i++ {
		free <- make([]byte, spoolChunk)
	}
	// Room for every buffer and an error: the reader never blocks on a
	// send, so it ends once stop is closed or its read fails.
	full := make(chan chunk, buffers+1)
	stop := make(chan struct{})
	go func() {
		defer close(full)
		for {
			var b []byte
			select {
			case b = <-free:
			case <-stop:
				return
			}
			n, err := fill(r, b)
			if n > 0 {
				full <- chunk{b: b[:n]}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				full <- chunk{err: err}
				return
			}
		}
	}()
	var total int64
	for c := range full {
		if c.err != nil {
			close(stop)
			return total, c.err
		}
		n, err := w.Write(c.b)
		total += int64(n)
		if err != nil {
			close(stop)
			return total, err
		}
		free <- c.b[:cap(c.b)]
	}
	return total, nil
}

// fill reads into b until it is full or r ends: io.EOF only for the
// stream's own end (unlike io.ReadFull, which turns a short last chunk
// into io.ErrUnexpectedEOF, and so could not be told from a download
// cut short).
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
