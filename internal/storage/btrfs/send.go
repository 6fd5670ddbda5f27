package btrfs

import (
	"context"
	"fmt"
	"io"

	"github.com/lodge-project/lodge/internal/storage"
)

// Copies between two btrfs pools go as btrfs send streams, each snapshot
// sent against the one before it, so the copy's snapshots share their
// unchanged blocks as the source's do, and nothing is walked file by file.
// They are received as an import's are (ReceiveStreams), so that no copy
// keeps a received uuid that a later import's stream could be led to.

// SendVolume copies src (or its snapshot srcSnap) with snaps, oldest
// first, to dst on pool to, another btrfs pool. A failure leaves nothing
// on to.
func (d *Driver) SendVolume(ctx context.Context, src storage.Volume, srcSnap string, snaps []string, to storage.Driver, dst storage.Volume) error {
	t, ok := to.(*Driver)
	if !ok {
		return fmt.Errorf("send to a %s pool: not btrfs", to.Name())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	i, parent := 0, ""
	var sending chan error
	var reading *io.PipeReader
	next := func() (storage.VolumeStream, error) {
		if sending != nil {
			if err := <-sending; err != nil {
				return storage.VolumeStream{}, err
			}
		}
		if i > len(snaps) {
			sending = nil
			return storage.VolumeStream{}, io.EOF
		}
		s := storage.VolumeStream{}
		snap := srcSnap // the volume: itself, or the snapshot asked for
		if i < len(snaps) {
			snap, s.Snapshot = snaps[i], snaps[i]
		}
		from := parent
		parent = snap
		i++
		r, w := io.Pipe()
		sending = make(chan error, 1)
		go func() {
			_, err := d.WriteStream(ctx, src, storage.StreamSpec{Snapshot: snap, Parent: from}, w)
			_ = w.CloseWithError(err)
			sending <- err
		}()
		s.R, reading = r, r
		return s, nil
	}
	err := t.ReceiveStreams(ctx, dst, next, func(string, string) error { return nil })
	if sending != nil {
		// A receive that stopped early leaves the send blocked on the pipe.
		cancel()
		_ = reading.CloseWithError(io.ErrClosedPipe)
		<-sending
	}
	if err != nil {
		return fmt.Errorf("send %s: %w", src.Name, err)
	}
	return nil
}
