package instance

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/storage"
)

// Optimized backups (optimized_storage) hold the pool driver's own
// streams (package backup), so only a pool of the same driver imports
// them; in exchange they are written and read without a walk of the
// files. Their files stay on the host ids they have, and the config says
// on which map, as LXD's do.

// streamer is the instance's pool as a storage.Streamer, or a 400 that
// says which pools can write optimized backups.
func streamer(pool storage.Driver) (storage.Streamer, error) {
	st, ok := pool.(storage.Streamer)
	if !ok {
		return nil, apierr.BadRequest("optimized_storage backups need a pool with streams of its own (btrfs); this instance is on a %s pool: leave it out for a backup of files", pool.Name())
	}
	return st, nil
}

// writeOptimized fills w with the instance's streams: each snapshot
// against the one before, then the volume, with backup.yaml at its top,
// against the last. An incremental backup (since) leaves out the
// snapshots the earlier one holds and sends the volume against what the
// earlier one sent, kept as the volume's export base.
func (s *Service) writeOptimized(ctx context.Context, w *backup.Writer, e Expanded, snaps []SnapshotRecord, cfg *backup.Config, scratch string, since *api.BackupSince) error {
	pool, vol, err := s.poolOf(e)
	if err != nil {
		return err
	}
	st, err := streamer(pool)
	if err != nil {
		return err
	}
	// The files keep their host ids: say which.
	cfg.Container.Config["volatile.last_state.idmap"] = backup.LXDIDMap(e.IDMap)
	for i, sn := range snaps {
		cfg.Snapshots[i].Config["volatile.last_state.idmap"] = backup.LXDIDMap(sn.filesIDMap(e.IDMap))
	}
	t := true
	idx := backup.Index{Name: e.Name, Backend: pool.Name(), Pool: rootPool(e.Devices), Optimized: &t,
		OptimizedHeader: &t, Type: string(typeContainer), Config: cfg, LodgeSince: since}
	for _, sn := range snaps {
		idx.Snapshots = append(idx.Snapshots, sn.Name)
	}
	// What the earlier backup holds, by snapshot name and stream id.
	held := map[string]string{}
	if since != nil {
		for _, st := range since.Streams {
			held[st.Snapshot] = st.UUID
		}
		base, err := st.StreamID(vol, "")
		if err != nil {
			return err
		}
		if base == "" || base != held[""] {
			return apierr.BadRequest("%s is not the last export of %q (its volume is no longer what the next one builds on): export it again whole, or since its latest export", since.File, e.Name)
		}
	}
	// The header, which comes before the streams, names each stream's
	// subvolume by uuid. A snapshot's is known before it is sent; the
	// volume's only once its read-only copy is made and sent: so the
	// volume goes first, to a file, and the snapshots then go straight
	// into the tarball.
	var header backup.OptimizedHeader
	var sendSnaps []storage.StreamSpec
	parent := ""
	for _, sn := range snaps {
		id, err := st.StreamID(vol, sn.Name)
		if err != nil {
			return err
		}
		if held[sn.Name] != id {
			sendSnaps = append(sendSnaps, storage.StreamSpec{Snapshot: sn.Name, Parent: parent})
			header.Subvolumes = append(header.Subvolumes, backup.Subvolume{Path: "/", Snapshot: sn.Name, Readonly: true, UUID: id})
		}
		parent = sn.Name
	}
	cfgYAML, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	volFile, err := os.CreateTemp(scratch, ".stream-*.partial")
	if err != nil {
		return err
	}
	defer os.Remove(volFile.Name())
	defer volFile.Close()
	id, err := st.WriteStream(ctx, vol, storage.StreamSpec{Parent: parent, FromBase: since != nil,
		Top: map[string][]byte{"backup.yaml": cfgYAML}, KeepBase: true}, volFile)
	if err != nil {
		return fmt.Errorf("back up the volume: %w", err)
	}
	header.Subvolumes = append(header.Subvolumes, backup.Subvolume{Path: "/", UUID: id})
	if err := w.AddYAML("backup/index.yaml", idx); err != nil {
		return err
	}
	if err := w.AddYAML("backup/optimized_header.yaml", header); err != nil {
		return err
	}
	for _, spec := range sendSnaps {
		name := "backup/snapshots/" + spec.Snapshot + ".bin"
		err := w.AddStream(name, scratch, func(out io.Writer) error {
			_, err := st.WriteStream(ctx, vol, spec, out)
			return err
		})
		if err != nil {
			return fmt.Errorf("back up %s: %w", name, err)
		}
	}
	if err := w.AddFileFrom("backup/container.bin", volFile); err != nil {
		return err
	}
	crashpoint.Hit("backup.written")
	return nil
}

// checkOptimizedImport refuses an optimized backup that pool cannot take.
func checkOptimizedImport(idx backup.Index, pool storage.Driver) error {
	if _, ok := pool.(storage.Streamer); !ok || pool.Name() != idx.Backend {
		return apierr.BadRequest("the backup is optimized: it holds %s's own streams, which only a %s pool imports (pool %q is %s); choose one with --storage, or export it again without optimized storage", idx.Backend, idx.Backend, pool.Name(), pool.Name())
	}
	return idx.Header.CheckHeader()
}

// chainLink is one earlier backup of an incremental one's chain.
type chainLink struct {
	file string
	idx  backup.Index
}

// readChain reads the earlier backups an incremental backup (idx) builds
// on, files oldest first, and checks that each one is the one the next
// names: its volume's stream is what the next was sent against.
func readChain(ctx context.Context, idx backup.Index, files []string) ([]chainLink, error) {
	var links []chainLink
	for _, f := range files {
		i, err := backup.ReadIndex(ctx, f)
		if err != nil {
			return nil, err
		}
		links = append(links, chainLink{file: f, idx: i})
	}
	next := idx
	for k := len(links) - 1; k >= -1; k-- {
		if next.LodgeSince == nil {
			if k >= 0 {
				return nil, apierr.BadRequest("the backup chain holds more backups than its incremental ones build on")
			}
			break
		}
		if k < 0 {
			return nil, apierr.BadRequest("the backup is incremental: it builds on %s, which must come with it (lodge import finds it in the same folder)", next.LodgeSince.File)
		}
		prev := links[k].idx
		if prev.IsOptimized() != next.IsOptimized() || (next.IsOptimized() && prev.Backend != next.Backend) {
			return nil, apierr.BadRequest("%s, which the backup builds on, is not the same kind of backup (optimized %s, or files)", next.LodgeSince.File, next.Backend)
		}
		if base := sinceBase(next.LodgeSince); base == "" || base != volumeTreeID(prev) {
			return nil, apierr.BadRequest("the backup chain is broken: the backup does not build on the one before it (%s)", next.LodgeSince.File)
		}
		next = prev
	}
	return links, nil
}

// sinceBase is the id of the volume stream an incremental backup was sent
// against.
func sinceBase(since *api.BackupSince) string {
	for _, st := range since.Streams {
		if st.Snapshot == "" {
			return st.UUID
		}
	}
	return ""
}

// volumeTreeID is the id of a backup's volume tree or stream.
func volumeTreeID(idx backup.Index) string {
	for _, t := range idx.Trees() {
		if t.Snapshot == "" {
			return t.UUID
		}
	}
	return ""
}

// receiveBackup makes the new volume from the backup's streams (and its
// chain's, oldest first), moving each tree's files onto the instance's
// map before it is sealed.
func (s *Service) receiveBackup(ctx context.Context, pool storage.Driver, vol storage.Volume, from *imported, to *idmap.Map) error {
	st, err := streamer(pool)
	if err != nil {
		return err
	}
	files := map[string]*idmap.Map{"": from.files}
	for _, sn := range from.snaps {
		files[sn.api.Name] = sn.files
	}
	// Every backup's streams in turn. A snapshot's stream makes the
	// snapshot only where the plan says; the rest, and every volume but
	// the newest, are only parents of what follows.
	plan, err := planChain(from)
	if err != nil {
		return err
	}
	links := plan.links
	wanted := map[string]bool{}
	for _, sn := range from.snaps {
		wanted[sn.api.Name] = true
	}
	var streams []storage.VolumeStream
	var members []string
	var owners []int
	for k, l := range links {
		snaps := heldSnapshots(l.idx)
		for _, n := range snaps {
			streams = append(streams, storage.VolumeStream{Snapshot: n, Base: !wanted[n] || plan.makes[n] != k})
		}
		streams = append(streams, storage.VolumeStream{Base: k < len(links)-1})
		for _, m := range backup.StreamNames("snapshots", "container", snaps) {
			members = append(members, m)
			owners = append(owners, k)
		}
	}
	i, open := 0, -1
	var next func() (string, io.Reader, error)
	closeFn := func() {}
	defer func() { closeFn() }()
	read := func() (storage.VolumeStream, error) {
		if i == len(streams) {
			return storage.VolumeStream{}, io.EOF
		}
		if owners[i] != open {
			closeFn()
			k := owners[i]
			var names []string
			for j := range members {
				if owners[j] == k {
					names = append(names, members[j])
				}
			}
			n, c, err := backup.Streams(ctx, links[k].file, names, nil)
			if err != nil {
				return storage.VolumeStream{}, err
			}
			next, closeFn, open = n, c, k
		}
		_, r, err := next()
		if err != nil {
			return storage.VolumeStream{}, err
		}
		s := streams[i]
		s.R = r
		i++
		return s, nil
	}
	fix := func(dir, snap string) error {
		return settleStreamTree(dir, snap, "the backup's", files[snap], to)
	}
	if err := st.ReceiveStreams(ctx, vol, read, fix); err != nil {
		return err
	}
	crashpoint.Hit("backup.imported")
	return nil
}

// heldSnapshots are the snapshots whose trees or streams a backup holds,
// in order: those Lodge's list (an incremental backup holds only the new
// ones), those an optimized header lists, or all it names.
func heldSnapshots(idx backup.Index) []string {
	var out []string
	switch {
	case idx.LodgeSince != nil || len(idx.Trees()) > 0:
		for _, t := range idx.Trees() {
			if t.Snapshot != "" {
				out = append(out, t.Snapshot)
			}
		}
	case idx.IsOptimized() && idx.Header != nil:
		for _, sv := range idx.Header.Subvolumes {
			if sv.Snapshot != "" {
				out = append(out, sv.Snapshot)
			}
		}
	default:
		out = idx.Snapshots
	}
	return out
}

// chainPlan says, for a backup and its chain, which link's tree makes
// each snapshot: the last that holds it, if the newest backup still lists
// it. The others only serve as parents.
type chainPlan struct {
	links []chainLink
	// makes maps a snapshot to the link whose tree makes it.
	makes map[string]int
}

func planChain(from *imported) (chainPlan, error) {
	p := chainPlan{links: append(append([]chainLink{}, from.chain...), chainLink{file: from.file, idx: from.idx}), makes: map[string]int{}}
	for k, l := range p.links {
		for _, n := range heldSnapshots(l.idx) {
			p.makes[n] = k
		}
	}
	for _, sn := range from.snaps {
		if _, ok := p.makes[sn.api.Name]; !ok {
			return p, apierr.BadRequest("the backup lists snapshot %q but holds no tree of it", sn.api.Name)
		}
	}
	return p, nil
}

// settleStreamTree is how a tree a driver's stream made (a backup's, or
// another host's) is fixed before it is sealed: checked, its top as
// lodged keeps it (settleTop), its rootfs/ moved from the map its files
// came on (files) onto the instance's (to). whose names the tree's origin
// in errors.
func settleStreamTree(dir, snap, whose string, files, to *idmap.Map) error {
	if err := backup.CheckTop(dir); err != nil {
		return err
	}
	if err := settleTop(dir); err != nil {
		return err
	}
	// One walk drops the device nodes and moves the owners.
	if err := idmap.SettleImported(dir, files, to, map[string]bool{"metadata.yaml": true, "templates": true}); err != nil {
		what := "volume"
		if snap != "" {
			what = "snapshot " + snap
		}
		return apierr.BadRequest("%s %s: %v", whose, what, err)
	}
	return os.Chmod(dir, 0o711)
}

// settleTop makes a received volume's top as lodged keeps it: the
// instance's metadata.yaml and templates/ belong to host root (only
// rootfs/ is on the instance's map), and nothing else stays there
// (backup.yaml, or whatever a stream put beside them).
func settleTop(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		switch e.Name() {
		case "rootfs":
		case "metadata.yaml", "templates":
			// WalkDir follows no link; Lchown changes the link itself.
			err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.Type()&fs.ModeDevice != 0 {
					return os.Remove(p) // the rest of the tree loses them too
				}
				return os.Lchown(p, 0, 0)
			})
			if err != nil {
				return err
			}
		default:
			if err := os.RemoveAll(path); err != nil {
				return err
			}
		}
	}
	return nil
}
