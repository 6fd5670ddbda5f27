package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
)

// importStreaming imports a unified image being downloaded, unpacking it
// as it arrives: the bytes go to the spool file (hashed) and to tar at
// once, so a launch from a remote image waits for the slower of the two,
// not for both in turn. The fingerprint is known beforehand (up.Expect)
// and checked at the end: a download that is not the image announced
// leaves nothing, its unpacked volume included.
func (s *Service) importStreaming(ctx context.Context, up Upload) (api.Image, error) {
	fp := up.Expect
	key := project.StoreKey(up.Project, fp)
	defer s.unpacking.Lock(fp)()
	if s.db.Has(store.Images, key) {
		return api.Image{Fingerprint: fp}, apierr.Conflict("image %s is already imported", fp[:12])
	}
	defer s.pools.Hold()()
	pool, err := s.importPool()
	if err != nil {
		return api.Image{}, err
	}
	hash := sha256.New()
	limit, err := s.quotaFor(up.Project)
	if err != nil {
		return api.Image{}, err
	}
	pr, pw := io.Pipe()
	type spoolResult struct {
		part spooled
		err  error
	}
	done := make(chan spoolResult, 1)
	var downloadFailed atomic.Bool
	go func() {
		p, err := s.spool(ctx, io.TeeReader(up.Unified, pw), hash, limit)
		downloadFailed.Store(err != nil) // before tar can see it
		pw.CloseWithError(err)           // nil: tar reads to the end
		done <- spoolResult{p, err}
	}()
	stopped := false // the unpack stopped reading: its error is the story
	ran := false
	unpack := func(dir string) error {
		ran = true
		err := untarStream(ctx, pr, dir)
		if err != nil {
			stopped = !downloadFailed.Load()
			pr.CloseWithError(err) // the download stops too
			return err
		}
		// tar may stop at the archive's end blocks: the rest still goes
		// through the hash.
		_, _ = io.Copy(io.Discard, pr)
		if err := checkImageTree(dir); err != nil {
			return err
		}
		_, err = readMetadata(dir)
		return err
	}
	unpackErr := s.unpackInto(pool, fp, unpack)
	if !ran {
		// The pool did not unpack: it failed first, or it had the volume
		// already (a retired one back in use). Either way nothing reads
		// the pipe: stop the download, or let it finish into the hash.
		if unpackErr != nil {
			stopped = true
			pr.CloseWithError(unpackErr)
		} else {
			_, _ = io.Copy(io.Discard, pr)
		}
	}
	res := <-done
	if res.err == nil {
		defer os.Remove(res.part.path)
	}
	switch {
	case stopped:
		return api.Image{}, unpackErr
	case res.err != nil:
		if unpackErr == nil {
			_ = pool.DeleteImageVolume(fp)
		}
		return api.Image{}, res.err
	case unpackErr != nil:
		return api.Image{}, unpackErr
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != fp {
		_ = pool.DeleteImageVolume(fp)
		return api.Image{}, errTampered(got, fp)
	}
	if res.part.size == 0 {
		_ = pool.DeleteImageVolume(fp)
		return api.Image{}, apierr.BadRequest("the image download is empty")
	}
	md, err := readMetadataOfVolume(pool, fp)
	if err == nil {
		var img api.Image
		if img, err = s.commit(fp, key, false, []spooled{res.part}, md, up); err == nil {
			return img, nil
		}
	}
	_ = pool.DeleteImageVolume(fp)
	return api.Image{}, err
}

// compressionFlag is tar's option for the compression r starts with
// (tar cannot tell from a pipe by itself).
func compressionFlag(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "-z"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z'}):
		return "-J"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "--zstd"
	case bytes.HasPrefix(head, []byte("BZh")):
		return "-j"
	}
	return ""
}

// untarStream is untar reading the tarball from r.
func untarStream(ctx context.Context, r io.Reader, dir string) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(6)
	args := []string{"-x", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--same-permissions", "-f", "-", "-C", dir}
	if flag := compressionFlag(head); flag != "" {
		args = append([]string{flag}, args...)
	}
	cmd := helper(ctx, "tar", args...)
	cmd.Stdin = br
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return apierr.BadRequest("the image tarball is malformed or truncated (tar: %s)", firstLine(out))
	}
	return nil
}

// readMetadataOfFiles reads metadata.yaml out of an image's (metadata)
// tarball without unpacking the rest: LXD's images have it first.
func readMetadataOfFiles(ctx context.Context, file string) (api.ImageMetadata, error) {
	var md api.ImageMetadata
	if raw, ok := firstMemberOfGzip(file, "metadata.yaml"); ok {
		return parseMetadata(raw)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(file), ".meta-")
	if err != nil {
		return md, err
	}
	defer os.RemoveAll(tmp)
	out, err := helper(ctx, "tar", "-x", "--occurrence=1", "-f", file, "-C", tmp, "metadata.yaml").CombinedOutput()
	if err != nil {
		return md, apierr.BadRequest("the image has no readable metadata.yaml (tar: %s)", firstLine(out))
	}
	f, err := os.OpenFile(filepath.Join(tmp, "metadata.yaml"), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return md, apierr.BadRequest("the image's metadata.yaml is not a regular file")
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return md, apierr.BadRequest("the image's metadata.yaml is not a regular file")
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxMetadata))
	if err != nil {
		return md, err
	}
	return parseMetadata(raw)
}

// maxMetadata bounds the metadata.yaml read.
const maxMetadata = 1 << 20

// parseMetadata reads an image's metadata.yaml.
func parseMetadata(raw []byte) (api.ImageMetadata, error) {
	var md api.ImageMetadata
	if err := yaml.Unmarshal(raw, &md); err != nil {
		return md, apierr.BadRequest("the image's metadata.yaml is invalid: %v", err)
	}
	if md.Architecture == "" {
		return md, apierr.BadRequest("the image's metadata.yaml has no architecture")
	}
	return md, nil
}

// firstMemberOfGzip reads member name of a gzip tarball when it is the
// first, a regular file (LXD's and Lodge's images start with
// metadata.yaml): no tar to run for what the first few kilobytes hold.
// Not ok for anything else, which tar then reads.
func firstMemberOfGzip(file, name string) ([]byte, bool) {
	f, err := os.Open(file)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, false
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil || hdr.Typeflag != tar.TypeReg || path.Clean(hdr.Name) != name || hdr.Size > maxMetadata {
		return nil, false
	}
	raw := make([]byte, hdr.Size)
	if _, err := io.ReadFull(tr, raw); err != nil {
		return nil, false
	}
	return raw, true
}
