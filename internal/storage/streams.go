package storage

import (
	"context"
	"io"
)

// Streamer is a driver with a stream of its own for a volume and its
// snapshots, which optimized backups carry (LXD's optimized_storage):
// faster both ways than files, and readable only by the same driver.
type Streamer interface {
	// WriteStream writes v's snapshot snap (v itself when snap is "",
	// with the files in top added at its top) to w, as a whole stream or,
	// when parent is given, as the changes since v's snapshot parent.
	WriteStream(ctx context.Context, v Volume, snap, parent string, top map[string][]byte, w io.Writer) error
	// ReceiveStreams makes v and its snapshots from the streams next
	// returns in turn (io.EOF after the last): each snapshot's, oldest
	// first, then the volume's. fix makes each tree fit before it is
	// sealed (snap "" is the volume). The streams are untrusted: one
	// that names anything outside the streams before it is refused. A
	// failure leaves nothing.
	ReceiveStreams(ctx context.Context, v Volume, next func() (VolumeStream, error), fix func(dir, snap string) error) error
}

// VolumeStream is one stream of an optimized backup.
type VolumeStream struct {
	// Snapshot is the snapshot the stream makes; "" is the volume.
	Snapshot string
	// Base marks a stream that is only the parent of those after it (an
	// earlier backup's volume, below an incremental one): it is received
	// and dropped.
	Base bool
	R    io.Reader
}

// StreamsOf adapts a reader of a backup's streams (snapshot name, "" for
// the volume) to ReceiveStreams.
func StreamsOf(next func() (string, io.Reader, error)) func() (VolumeStream, error) {
	return func() (VolumeStream, error) {
		snap, r, err := next()
		return VolumeStream{Snapshot: snap, R: r}, err
	}
}
