package storage

import (
	"context"
	"io"
)

// Streamer is a driver with a stream of its own for a volume and its
// snapshots, which optimized backups carry (LXD's optimized_storage):
// faster both ways than files, and readable only by the same driver.
type Streamer interface {
	// WriteStream writes what spec says to w, and returns the id the
	// stream gives what it sends (a btrfs subvolume's uuid).
	WriteStream(ctx context.Context, v Volume, spec StreamSpec, w io.Writer) (string, error)
	// StreamID is the id of v's snapshot snap, or of v's export base
	// when snap is "" ("" when it has none).
	StreamID(v Volume, snap string) (string, error)
	// ReceiveStreams makes v and its snapshots from the streams next
	// returns in turn (io.EOF after the last): each snapshot's, oldest
	// first, then the volume's. fix makes each tree fit before it is
	// sealed (snap "" is the volume); it may run for several trees at
	// once. The streams are untrusted: one
	// that names anything outside the streams before it is refused. A
	// failure leaves nothing.
	ReceiveStreams(ctx context.Context, v Volume, next func() (VolumeStream, error), fix func(dir, snap string) error) error
}

// StreamSpec is what WriteStream sends.
type StreamSpec struct {
	// Snapshot is the snapshot sent; "" is the volume itself.
	Snapshot string
	// Parent, a snapshot of the volume: send only the changes since it.
	Parent string
	// FromBase (the volume): send only the changes since the volume's
	// export base, what the last export with KeepBase sent.
	FromBase bool
	// Top (the volume): files added at its top.
	Top map[string][]byte
	// KeepBase (the volume): keep what is sent as the export base, for
	// the next incremental export to send the changes since.
	KeepBase bool
}

// VolumeStream is one stream of an optimized backup.
type VolumeStream struct {
	// Snapshot is the snapshot the stream makes; "" is the volume.
	Snapshot string
	// Base marks a stream that is only the parent of those after it (an
	// earlier backup's volume, below an incremental one): it is received
	// and dropped.
	Base bool
	// Keep (a snapshot's stream, in a migration) keeps what it made, as
	// received, as the volume's received base: a later refresh's streams
	// may then be incremental against it (see StreamRefresher).
	Keep bool
	R    io.Reader
}

// StreamRefresher is a Streamer that brings a volume it received from
// another host up to date from that host's incremental streams (lxc copy
// --refresh between two pools of its driver).
type StreamRefresher interface {
	// ReceivedBase names the snapshot of v whose picture, as received,
	// v keeps (a stream's Keep), when a refresh may use it as its
	// parent, and the uuid of the source's subvolume it was received
	// from; "" when there is none.
	ReceivedBase(v Volume) (snap, id string)
	// RefreshStreams brings v up to date from the streams next returns
	// in turn: new snapshots, oldest first, the first against the
	// received base, then the volume. fix is as for ReceiveStreams. The
	// volume is replaced at once when all is there; a failure (or a
	// crash: start-up removes the leftovers) leaves v as it was.
	RefreshStreams(ctx context.Context, v Volume, next func() (VolumeStream, error), fix func(dir, snap string) error) error
}

// StreamsOf adapts a reader of a backup's streams (snapshot name, "" for
// the volume) to ReceiveStreams.
func StreamsOf(next func() (string, io.Reader, error)) func() (VolumeStream, error) {
	return func() (VolumeStream, error) {
		snap, r, err := next()
		return VolumeStream{Snapshot: snap, R: r}, err
	}
}
