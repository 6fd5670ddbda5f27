package migration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
)

// Source is what the sending host's instance side gives the protocol.
type Source struct {
	// Info is the index header (the instance's backup.yaml).
	Info Info
	// IDMap is the map the instance's files are on (none: its own ids).
	IDMap []IDMapEntry
	// Snapshots describe the snapshots sent, oldest first.
	Snapshots []Snapshot
	// Running: the instance runs, so its volume is sent twice, the second
	// time as a final sync (LXD's stateless copy of a running instance).
	Running bool
	// Tree calls send with the directory of snapshot snap's tree (the
	// volume's for ""), held consistent meanwhile.
	Tree func(ctx context.Context, snap string, send func(dir string) error) error
	// Sent counts the bytes sent, for progress.
	Sent *atomic.Int64
	// AllowInconsistent takes files that vanish during the copy as sent.
	AllowInconsistent bool
	// Only are the entries at each tree's top that are sent (nil: all):
	// a volume holds files of its host's beside the instance's.
	Only []string
	// Driver and Stream, when the pool has streams of its own (btrfs
	// send): Stream writes snapshot snap's (the volume's for "") as the
	// changes since snapshot parent (all of it for ""), an atomic picture
	// of it. A Lodge target on a pool of the same driver takes them
	// instead of rsync's trees.
	Driver string
	Stream func(ctx context.Context, snap, parent string, w io.Writer) error
	// StreamUUID, with Stream, is the uuid of snapshot snap's subvolume,
	// which its stream carries: LXD's BTRFS transfer lists them, and an
	// LXD target refreshes by them.
	StreamUUID func(snap string) (string, error)
}

// offer is the source's header.
func (s *Source) offer() *Header {
	ver := IndexHeaderVersion
	predump := false
	h := &Header{FS: FSRsync, IDMap: s.IDMap, Predump: &predump, IndexHeaderVersion: &ver,
		Rsync: &RsyncFeatures{Xattrs: true, Delete: true, Compress: true, Bidirectional: true}}
	if s.Running {
		none := CriuNone
		h.Criu = &none
	}
	for _, sn := range s.Snapshots {
		h.SnapshotNames = append(h.SnapshotNames, sn.Name)
		h.Snapshots = append(h.Snapshots, sn)
	}
	h.Lodge = &LodgeFeatures{LinksAndACLs: true}
	if s.Stream != nil {
		h.Lodge.Stream = s.Driver
		if s.Driver == "btrfs" {
			// LXD's own type, for an LXD target on btrfs: the same
			// streams, after a header of the subvolumes (and their uuids,
			// by which LXD refreshes). Lodge sends no nested subvolumes.
			h.FS, h.Btrfs = FSBtrfs, &BtrfsFeatures{MigrationHeader: true, HeaderSubvolumeUUIDs: s.StreamUUID != nil}
		}
	}
	return h
}

// rsyncFeatures are the features the answer agreed on; an answer that
// does not say bidirectional is an older LXD's, which has these three.
// Two Lodge hosts may add hard links and ACLs.
func rsyncFeatures(h *Header) []string {
	var out []string
	if h.Lodge != nil && h.Lodge.LinksAndACLs {
		out = append(out, lodgeLinksAndACLs)
	}
	if h.Rsync == nil || !h.Rsync.Bidirectional {
		return append(out, "xattrs", "delete", "compress")
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{h.Rsync.Xattrs, "xattrs"}, {h.Rsync.Delete, "delete"}, {h.Rsync.Compress, "compress"}, {h.Rsync.Bidirectional, "bidirectional"}} {
		if f.on {
			out = append(out, f.name)
		}
	}
	return out
}

// RunSource sends an instance: the offer, the target's answer, the index
// header, each tree, then the target's verdict. A failure is sent on the
// control websocket, and both websockets are closed.
func RunSource(ctx context.Context, control, fs *Conn, src *Source) (err error) {
	defer func() {
		if err != nil {
			_ = control.SendControl(err)
			control.Disconnect()
			fs.Disconnect()
		}
	}()
	offer := src.offer()
	if err := control.SendHeader(offer); err != nil {
		return fmt.Errorf("send the migration offer: %w", err)
	}
	answer, err := control.RecvHeader()
	if err != nil {
		return fmt.Errorf("the target's answer: %w", err)
	}
	if answer.FS != FSRsync && answer.FS != offer.FS {
		return fmt.Errorf("the target asks for a %s transfer, which was not offered", answer.FS)
	}
	features := rsyncFeatures(answer)
	info := src.Info
	snaps := offer.SnapshotNames
	if answer.Refresh != nil && *answer.Refresh {
		// A refresh sends only the snapshots the target lacks.
		snaps = nil
		for _, n := range answer.SnapshotNames {
			if slices.Contains(offer.SnapshotNames, n) {
				snaps = append(snaps, n)
			}
		}
		info.Config = onlySnapshots(info.Config, snaps)
	}
	if answer.IndexHeaderVersion != nil && *answer.IndexHeaderVersion >= 1 {
		if _, err := sendIndex(fs, info); err != nil {
			return err
		}
	}
	if answer.Lodge != nil && answer.Lodge.Stream != "" {
		if src.Stream == nil || answer.Lodge.Stream != src.Driver {
			return fmt.Errorf("the target asks for %q streams, which were not offered", answer.Lodge.Stream)
		}
		parent := answer.Lodge.StreamParent
		if parent != "" && !slices.Contains(offer.SnapshotNames, parent) {
			return fmt.Errorf("the target asks for streams since snapshot %q, which was not offered", parent)
		}
		if err := sendStreams(ctx, fs, src, snaps, parent); err != nil {
			return err
		}
		return awaitVerdict(control)
	}
	if answer.FS == FSBtrfs {
		if err := sendLXDBtrfs(ctx, fs, src, offer, answer, snaps); err != nil {
			return err
		}
		return awaitVerdict(control)
	}
	send := func(dir string) error {
		return SendTree(ctx, dir, src.Only, fs, features, src.Sent, src.AllowInconsistent)
	}
	for _, n := range snaps {
		if err := src.Tree(ctx, n, send); err != nil {
			return fmt.Errorf("send snapshot %q: %w", n, err)
		}
	}
	if err := src.Tree(ctx, "", send); err != nil {
		return fmt.Errorf("send the instance: %w", err)
	}
	if answer.Criu != nil && *answer.Criu == CriuNone {
		// The final sync of a running instance.
		if err := src.Tree(ctx, "", send); err != nil {
			return fmt.Errorf("send the instance's final sync: %w", err)
		}
	}
	return awaitVerdict(control)
}

// sendLXDBtrfs sends the streams in LXD's BTRFS transfer: the header of
// the subvolumes, then snapshots snaps and the volume. A refresh by
// uuids (see btrfsheader.go) lists every snapshot, and sends those the
// target's answer asks for.
func sendLXDBtrfs(ctx context.Context, fs *Conn, src *Source, offer, answer *Header, snaps []string) error {
	if answer.Btrfs == nil || !answer.Btrfs.MigrationHeader {
		return sendStreams(ctx, fs, src, snaps, "")
	}
	refresh := answer.Refresh != nil && *answer.Refresh && answer.Btrfs.HeaderSubvolumeUUIDs && offer.Btrfs.HeaderSubvolumeUUIDs
	listed := snaps
	if refresh {
		listed = offer.SnapshotNames
	}
	h, err := btrfsHeaderOf(listed, src.StreamUUID) // offered when StreamUUID is set
	if err != nil {
		return err
	}
	if err := sendBtrfsHeader(fs, h); err != nil {
		return err
	}
	if !refresh {
		return sendStreams(ctx, fs, src, snaps, "")
	}
	send, err := btrfsRefreshList(fs, offer.SnapshotNames)
	if err != nil {
		return err
	}
	return sendStreams(ctx, fs, src, send, refreshParent(offer.SnapshotNames, send))
}

// awaitVerdict reads the target's last word.
func awaitVerdict(control *Conn) error {
	verdict, err := control.RecvControl()
	if err != nil {
		return fmt.Errorf("the target's verdict: %w", err)
	}
	if !verdict.Success {
		return &RemoteError{Message: verdict.Message}
	}
	return nil
}

// sendStreams sends each snapshot as the changes since the one before
// (the first since snapshot parent, or whole for ""), then the volume
// since the last, each stream one transfer on fs.
func sendStreams(ctx context.Context, fs *Conn, src *Source, snaps []string, parent string) error {
	w := &countingWriter{w: fs, n: src.Sent}
	for _, n := range append(snaps, "") {
		if err := src.Stream(ctx, n, parent, w); err != nil {
			if n == "" {
				return fmt.Errorf("send the instance's stream: %w", err)
			}
			return fmt.Errorf("send snapshot %q's stream: %w", n, err)
		}
		if err := fs.Close(); err != nil {
			return err
		}
		parent = n
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if c.n != nil {
		c.n.Add(int64(n))
	}
	return n, err
}

// RemoteError is a failure the other end reported.
type RemoteError struct{ Message string }

func (e *RemoteError) Error() string { return "the other end failed: " + e.Message }

// Incoming is what a target's instance side gets to make the instance.
type Incoming struct {
	Offer *Header
	// Info is the index header, when the source sent one.
	Info *Info
	// Snapshots are those to make, oldest first, as the source described
	// them.
	Snapshots []Snapshot
	// Receive brings the next tree (each snapshot's in turn, then the
	// volume's, then, with FinalSync, the volume's again): its rootfs/
	// into rootfs, the rest into staging (see ReceiveTree).
	Receive func(ctx context.Context, staging, rootfs string) error
	// ReceiveLinked brings the next tree as Receive does, into
	// workspace/new beside workspace/old (see ReceiveTreeLinked).
	ReceiveLinked func(ctx context.Context, workspace string) error
	FinalSync     bool
	// Prune, in a refresh, are the target's snapshots the source does not
	// have (or has another of, by its creation date): they go first.
	Prune []string
	// Streams: the trees come as the pool driver's own streams (see
	// Source.Stream), each snapshot's then the volume's, each read from
	// NextStream in turn (Receive is not used).
	Streams    bool
	NextStream func() io.Reader
	// StreamParent, in a refresh by streams, is the snapshot the first
	// stream is the changes since (Sink.StreamParent, agreed).
	StreamParent string
	// LXDBtrfs: the streams come in LXD's BTRFS transfer (from LXD).
	LXDBtrfs bool
}

// Sink is the target's instance side.
type Sink struct {
	// Refresh: the instance exists here and is brought up to date.
	Refresh bool
	// Have are the snapshots the instance has here, with their creation
	// dates: a refresh sends only the source's others.
	Have []Snapshot
	// Make makes (or refreshes) the instance from what arrives; it
	// returns once the instance is whole, records included.
	Make func(ctx context.Context, in *Incoming) error
	// Got counts the bytes received, for progress.
	Got *atomic.Int64
	// Driver is the target pool's driver when it takes streams of its
	// own (Source.Stream), for a source of the same driver.
	Driver string
	// StreamParent, in a refresh, is the snapshot whose picture as
	// received the target keeps: the streams may then be the changes
	// since it, when the source has it too and every snapshot to send
	// is newer.
	StreamParent string
	// StreamParentUUID is the uuid of the source's subvolume that
	// picture was received from: an LXD source refreshes against it.
	StreamParentUUID string
}

// RunSink receives an instance: the offer, the answer, the index header,
// the trees (through Make), then the verdict, sent to the source. A
// failure the source reports stops the transfer.
func RunSink(ctx context.Context, control, fs *Conn, sink *Sink) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		if err != nil {
			_ = control.SendControl(err)
			control.Disconnect()
			fs.Disconnect()
		}
	}()
	offer, err := control.RecvHeader()
	if err != nil {
		return fmt.Errorf("the migration offer: %w", err)
	}
	if offer.Criu != nil && *offer.Criu != CriuNone {
		return errors.New("the source offers a live (stateful) migration, which this host cannot restore")
	}
	ver := min(offer.GetIndexHeaderVersion(), IndexHeaderVersion)
	predump := false
	answer := &Header{FS: FSRsync, Criu: offer.Criu, Predump: &predump, IndexHeaderVersion: &ver, Refresh: &sink.Refresh}
	features := RsyncFeatureNames
	if offer.Rsync == nil || !offer.Rsync.Bidirectional {
		features = []string{"xattrs", "delete", "compress"}
	}
	answer.Rsync = &RsyncFeatures{}
	for _, f := range features {
		if slices.Contains(rsyncFeatures(offer), f) {
			switch f {
			case "xattrs":
				answer.Rsync.Xattrs = true
			case "delete":
				answer.Rsync.Delete = true
			case "compress":
				answer.Rsync.Compress = true
			case "bidirectional":
				answer.Rsync.Bidirectional = true
			}
		}
	}
	snaps := describedSnapshots(offer)
	var prune []string
	if sink.Refresh {
		snaps, prune = compareSnapshots(snaps, sink.Have)
	}
	for _, sn := range snaps {
		answer.SnapshotNames = append(answer.SnapshotNames, sn.Name)
		answer.Snapshots = append(answer.Snapshots, sn)
	}
	if offer.Lodge != nil {
		answer.Lodge = &LodgeFeatures{LinksAndACLs: offer.Lodge.LinksAndACLs}
	}
	parent := ""
	if sink.Refresh && streamsSince(sink.StreamParent, offer, sink.Have, snaps, prune) {
		parent = sink.StreamParent
	}
	streams := sink.Driver != "" && offer.Lodge != nil && offer.Lodge.Stream == sink.Driver && (!sink.Refresh || parent != "")
	if streams {
		answer.Lodge.Stream, answer.Lodge.StreamParent = sink.Driver, parent
	}
	// LXD's BTRFS type, from an LXD source on btrfs. A refresh goes that
	// way by subvolume uuids, against the copy's received picture: only
	// when snapshots come, the first right after that one (with none,
	// LXD would send the whole volume, and rsync sends less).
	lxdBtrfs := !streams && sink.Driver == "btrfs" && offer.FS == FSBtrfs
	if sink.Refresh {
		lxdBtrfs = lxdBtrfs && parent != "" && sink.StreamParentUUID != "" && offer.Btrfs != nil &&
			offer.Btrfs.MigrationHeader && offer.Btrfs.HeaderSubvolumeUUIDs &&
			len(snaps) > 0 && refreshParent(offer.SnapshotNames, []string{snaps[0].Name}) == parent
	}
	if lxdBtrfs {
		answer.FS = FSBtrfs
		answer.Btrfs = &BtrfsFeatures{MigrationHeader: offer.Btrfs != nil && offer.Btrfs.MigrationHeader, HeaderSubvolumeUUIDs: sink.Refresh}
		streams = true
	}
	if !streams {
		parent = "" // by rsync: no stream is against it
	}
	if err := control.SendHeader(answer); err != nil {
		return fmt.Errorf("answer the offer: %w", err)
	}
	in := &Incoming{Offer: offer, Snapshots: snaps, Prune: prune, FinalSync: !streams && offer.Criu != nil && *offer.Criu == CriuNone,
		Receive: func(ctx context.Context, staging, rootfs string) error {
			return ReceiveTree(ctx, staging, rootfs, fs, rsyncFeatures(answer), sink.Got)
		},
		ReceiveLinked: func(ctx context.Context, workspace string) error {
			return ReceiveTreeLinked(ctx, workspace, fs, rsyncFeatures(answer), sink.Got)
		}, Streams: streams, NextStream: frames(fs, sink.Got), StreamParent: parent, LXDBtrfs: lxdBtrfs}
	if ver >= 1 {
		if in.Info, err = receiveIndex(fs, sink.Refresh); err != nil {
			return err
		}
	}
	switch {
	case lxdBtrfs && sink.Refresh:
		if err := answerBtrfsRefresh(fs, snaps, parent, sink.StreamParentUUID); err != nil {
			return err
		}
	case lxdBtrfs && answer.Btrfs.MigrationHeader:
		if err := receiveBtrfsHeader(fs, snaps); err != nil {
			return err
		}
	}
	// The source's failure, if it reports one, ends the transfer.
	verdict := make(chan error, 1)
	go func() {
		c, err := control.RecvControl()
		switch {
		case err != nil:
			verdict <- fmt.Errorf("the source's connection: %w", err)
		case !c.Success:
			verdict <- &RemoteError{Message: c.Message}
		default:
			verdict <- nil
		}
	}()
	made := make(chan error, 1)
	go func() { made <- sink.Make(ctx, in) }()
	select {
	case err := <-made:
		if err != nil {
			return err
		}
		return control.SendControl(nil)
	case err := <-verdict:
		if err == nil {
			err = errors.New("the source said it succeeded before the instance was received")
		}
		cancel()
		fs.Disconnect()
		<-made
		return err
	}
}

// streamsSince says whether a refresh may come as streams since snapshot
// parent: the source offers it, as the same snapshot (its creation date)
// the target has, it stays, and every snapshot to send is newer.
func streamsSince(parent string, offer *Header, have, send []Snapshot, prune []string) bool {
	if parent == "" || slices.Contains(prune, parent) {
		return false
	}
	at := slices.Index(offer.SnapshotNames, parent)
	if at < 0 {
		return false
	}
	i := slices.IndexFunc(have, func(s Snapshot) bool { return s.Name == parent })
	j := slices.IndexFunc(offer.Snapshots, func(s Snapshot) bool { return s.Name == parent })
	if i < 0 || j < 0 || unixOf(have[i].CreationDate) != unixOf(offer.Snapshots[j].CreationDate) {
		return false
	}
	for _, s := range send {
		if slices.Index(offer.SnapshotNames, s.Name) <= at {
			return false
		}
	}
	return true
}

// compareSnapshots is what a refresh does with the snapshots: the
// source's that the target lacks are sent; the target's that the source
// lacks go. A snapshot is the same one on both ends when its name and its
// creation date (to the second) match.
func compareSnapshots(source, target []Snapshot) (send []Snapshot, prune []string) {
	same := func(a, b Snapshot) bool {
		return a.Name == b.Name && unixOf(a.CreationDate) == unixOf(b.CreationDate)
	}
	for _, s := range source {
		if !slices.ContainsFunc(target, func(t Snapshot) bool { return same(s, t) }) {
			send = append(send, s)
		}
	}
	for _, t := range target {
		if !slices.ContainsFunc(source, func(s Snapshot) bool { return same(s, t) }) {
			prune = append(prune, t.Name)
		}
	}
	return send, prune
}

func unixOf(t *int64) int64 {
	if t == nil {
		return 0
	}
	return *t
}

// frames reads the transfers on fs in turn: each call's reader ends at
// its transfer's end mark, what the previous one left unread skipped.
func frames(fs *Conn, got *atomic.Int64) func() io.Reader {
	var cur *frame
	return func() io.Reader {
		if cur != nil && !cur.done {
			_, _ = io.Copy(io.Discard, cur)
		}
		cur = &frame{c: fs, n: got}
		return cur
	}
}

type frame struct {
	c    *Conn
	n    *atomic.Int64
	done bool
}

func (f *frame) Read(p []byte) (int, error) {
	if f.done {
		return 0, io.EOF
	}
	n, err := f.c.Read(p)
	if f.n != nil {
		f.n.Add(int64(n))
	}
	if err == io.EOF {
		f.done = true
	}
	return n, err
}

// GetIndexHeaderVersion is the offered index header version (0: none).
func (h *Header) GetIndexHeaderVersion() uint32 {
	if h.IndexHeaderVersion == nil {
		return 0
	}
	return *h.IndexHeaderVersion
}

// describedSnapshots are the offer's snapshots, each with its
// description; a name without one (an old source) gets a bare one.
func describedSnapshots(h *Header) []Snapshot {
	byName := map[string]Snapshot{}
	for _, sn := range h.Snapshots {
		byName[sn.Name] = sn
	}
	out := make([]Snapshot, 0, len(h.SnapshotNames))
	for _, n := range h.SnapshotNames {
		sn, ok := byName[n]
		if !ok {
			sn = Snapshot{Name: n, LocalConfig: map[string]string{}}
		}
		out = append(out, sn)
	}
	return out
}
