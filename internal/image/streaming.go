package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/decompress"
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
	// tar reads an OS pipe of 1 MiB, fed after the spool file and the
	// hash: the download reads ahead while tar works, instead of waiting
	// for tar to take each piece.
	pr, pw, err := os.Pipe()
	if err != nil {
		return api.Image{}, err
	}
	defer pr.Close()
	_, _ = unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, 1<<20) // best effort
	download := bufio.NewReaderSize(up.Unified, 64<<10)
	head, _ := download.Peek(6)
	spoolCtx, stopDownload := context.WithCancel(ctx)
	defer stopDownload()
	type spoolResult struct {
		part spooled
		err  error
	}
	done := make(chan spoolResult, 1)
	var downloadFailed atomic.Bool
	go func() {
		p, err := s.spool(spoolCtx, download, io.MultiWriter(hash, &tarFeed{w: pw}), limit, false)
		downloadFailed.Store(err != nil) // before tar can see the end
		pw.Close()                       // tar reads to the end
		done <- spoolResult{p, err}
	}()
	stopped := false // the unpack stopped reading: its error is the story
	ran := false
	unpack := func(dir string) error {
		ran = true
		err := untarStream(ctx, pr, head, dir)
		// tar may stop at the archive's end blocks: the rest still goes
		// through the hash, and the feed drops it.
		pr.Close()
		if err != nil {
			stopped = !downloadFailed.Load()
			stopDownload()
			return err
		}
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
		pr.Close()
		if unpackErr != nil {
			stopped = true
			stopDownload()
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

// untarStream is untar reading the tarball from the pipe r; head is its
// first bytes. tar cannot tell a pipe's compression by itself, and its
// own decompressor on a pipe would add a process copying 10 KiB at a
// time: the decompressor reads r here, and tar reads it through a 1 MiB
// pipe.
func untarStream(ctx context.Context, r *os.File, head []byte, dir string) error {
	in := r
	var unzip *exec.Cmd
	var unzipErr bytes.Buffer
	if argv := decompress.Command(head); argv != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return err
		}
		defer pr.Close()
		_, _ = unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, 1<<20) // best effort
		unzip = helper(ctx, argv[0], argv[1:]...)
		unzip.Stdin, unzip.Stdout, unzip.Stderr = r, pw, &unzipErr
		err = unzip.Start()
		pw.Close()
		if err != nil {
			return err
		}
		in = pr
	}
	cmd := helper(ctx, "tar", "-x", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--same-permissions", "-f", "-", "-C", dir)
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	var zerr error
	if unzip != nil {
		in.Close() // tar stopped reading: the rest is not wanted
		zerr = unzip.Wait()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// A decompressor that fails (a corrupt or truncated stream) is the
	// cause of what tar says. One that tar left writing, after the
	// archive's end or at its own failure, dies of a broken pipe.
	if zerr != nil && !diedOfBrokenPipe(zerr) {
		return apierr.BadRequest("the image tarball is malformed or truncated (%s: %s)", filepath.Base(unzip.Path), firstLine(unzipErr.Bytes()))
	}
	if err != nil {
		return apierr.BadRequest("the image tarball is malformed or truncated (tar: %s)", firstLine(out))
	}
	return nil
}

func diedOfBrokenPipe(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGPIPE
}

// tarFeed writes a download into tar's pipe until tar stops reading it:
// after the archive's end blocks, or on an error of its own, which the
// unpack reports. The download goes on into the spool file and the hash.
type tarFeed struct {
	w    *os.File
	gone bool
}

func (f *tarFeed) Write(p []byte) (int, error) {
	if !f.gone {
		if _, err := f.w.Write(p); err != nil {
			f.gone = true
		}
	}
	return len(p), nil
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
