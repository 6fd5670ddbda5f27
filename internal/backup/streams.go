package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/idmap"
)

// An optimized backup holds the driver's own streams instead of trees, as
// LXD's optimized_storage backups do:
//
//	backup/index.yaml
//	backup/optimized_header.yaml   the subvolumes the streams make
//	backup/snapshots/<snap>.bin    each snapshot, against the one before
//	backup/container.bin           the volume, with backup.yaml at its top
//
// (volume-snapshots/ and volume.bin for a custom volume). Files in the
// streams are on the host ids they had, and the config says which map
// that is (volatile.last_state.idmap), for the importer to move them.

// OptimizedHeader is backup/optimized_header.yaml (LXD's btrfs
// BTRFSMetaDataHeader).
type OptimizedHeader struct {
	Subvolumes []Subvolume `yaml:"subvolumes"`
}

// Subvolume is one subvolume an optimized backup's streams make.
type Subvolume struct {
	Path     string `yaml:"path"`     // where in the volume: "/" is the volume itself
	Snapshot string `yaml:"snapshot"` // the snapshot it belongs to, "" for the volume
	Readonly bool   `yaml:"readonly"`
	UUID     string `yaml:"uuid"`
}

// StreamNames are the members an optimized backup's streams are in: the
// snapshots' (dir "snapshots" or "volume-snapshots"), oldest first, then
// the volume's (main "container" or "volume").
func StreamNames(dir, main string, snaps []string) []string {
	var out []string
	for _, s := range snaps {
		out = append(out, "backup/"+dir+"/"+s+".bin")
	}
	return append(out, "backup/"+main+".bin")
}

// AddStream adds a driver stream as member name. Its header needs its
// size: into a plain tarball it goes straight, its header written after
// it in the place left for it; into a compressed one, through a file in
// scratchDir first.
func (w *Writer) AddStream(name, scratchDir string, write func(io.Writer) error) error {
	if w.pipe == nil && len(name) < 100 {
		return w.addStreamInPlace(name, write)
	}
	f, err := os.CreateTemp(scratchDir, ".stream-*.partial")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := write(f); err != nil {
		return err
	}
	return w.AddFileFrom(name, f)
}

// AddFileFrom adds the file f was written as, from its start, as member
// name.
func (w *Writer) AddFileFrom(name string, f *os.File) error {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: time.Now(), Typeflag: tar.TypeReg}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(w.tw, f)
	return err
}

// Streams reads the streams of the optimized backup at path in turn
// (io.EOF after the last): the members names, in that order, with the
// snapshot each makes (snaps, then "" for the volume). close ends the
// reading.
func Streams(ctx context.Context, path string, names, snaps []string) (next func() (string, io.Reader, error), closeFn func(), err error) {
	r, closeFn, err := open(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	tr := tar.NewReader(r)
	i := 0
	next = func() (string, io.Reader, error) {
		if i == len(names) {
			return "", nil, io.EOF
		}
		want := names[i]
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return "", nil, apierr.BadRequest("the backup has no %s (or not in its place): it is truncated or not an optimized backup", want)
			}
			if err != nil {
				return "", nil, apierr.BadRequest("the backup is malformed or truncated: %v", err)
			}
			if hdr.Name != want {
				continue
			}
			snap := ""
			if i < len(snaps) {
				snap = snaps[i]
			}
			i++
			return snap, tr, nil
		}
	}
	return next, closeFn, nil
}

// LXDIDMap is m as LXD's volatile.*.idmap JSON ("[]" for none: files on
// the instance's own ids).
func LXDIDMap(m *idmap.Map) string {
	if m == nil {
		return "[]"
	}
	var entries []lxdIDMapEntry
	for _, gid := range []bool{false, true} {
		for _, r := range m.Ranges(gid) {
			entries = append(entries, lxdIDMapEntry{Isuid: !gid, Isgid: gid, Hostid: int64(r.Host), Nsid: int64(r.Container), Maprange: int64(r.Size)})
		}
	}
	data, _ := json.Marshal(entries)
	return string(data)
}

// CheckHeader refuses an optimized header with subvolumes nested in a
// volume, which Lodge does not make.
func (h *OptimizedHeader) CheckHeader() error {
	if h == nil {
		return nil
	}
	for _, s := range h.Subvolumes {
		if filepath.Clean(s.Path) != "/" {
			return fmt.Errorf("the backup holds a subvolume nested in its volume (%s), which Lodge cannot import", s.Path)
		}
	}
	return nil
}

// Trees are the trees a backup written by Lodge holds, with their ids:
// an optimized one's streams (its header), or a backup of files' trees
// (lodge_trees). An incremental backup says it builds on them.
func (i Index) Trees() []api.BackupStream {
	if !i.IsOptimized() {
		return i.LodgeTrees
	}
	if i.Header == nil {
		return nil
	}
	var out []api.BackupStream
	for _, sv := range i.Header.Subvolumes {
		if sv.UUID == "" {
			return nil // LXD's: no ids
		}
		out = append(out, api.BackupStream{Snapshot: sv.Snapshot, UUID: sv.UUID})
	}
	return out
}

// addStreamInPlace writes member name to the plain tarball's file: a
// block kept for the header, the stream, its padding, then the header,
// now that the size is known, in its block.
func (w *Writer) addStreamInPlace(name string, write func(io.Writer) error) error {
	if err := w.tw.Flush(); err != nil {
		return err
	}
	start, err := w.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := w.file.Write(make([]byte, blockSize)); err != nil {
		return err
	}
	// The file itself, not a wrapper: a command writing the stream (btrfs
	// send) then writes into it directly, and the offset says how much.
	if err := write(w.file); err != nil {
		return err
	}
	end, err := w.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	size := end - start - blockSize
	if pad := (blockSize - size%blockSize) % blockSize; pad > 0 {
		if _, err := w.file.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	// The GNU format holds any size in the one block (base-256 beyond
	// what octal can), and a name under 100 bytes needs no other.
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	err = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: time.Now().Truncate(time.Second),
		Typeflag: tar.TypeReg, Format: tar.FormatGNU})
	if err != nil {
		return err
	}
	if hdr.Len() != blockSize {
		return fmt.Errorf("tar header of %s: %d bytes, not one block", name, hdr.Len())
	}
	_, err = w.file.WriteAt(hdr.Bytes(), start)
	return err
}

const blockSize = 512
