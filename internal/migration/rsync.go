package migration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RsyncFeatureNames are the rsync features Lodge offers, as LXD 5.0.2
// does.
var RsyncFeatureNames = []string{"xattrs", "delete", "compress", "bidirectional"}

// rsyncFeatureArgs are rsync's options for the features both ends
// agreed on; both ends must pass the same.
func rsyncFeatureArgs(features []string) []string {
	var args []string
	for _, f := range features {
		switch f {
		case "xattrs":
			args = append(args, "--xattrs", "--filter=-x security.selinux")
		case "delete":
			args = append(args, "--delete")
		case "compress":
			args = append(args, "--compress", "--compress-level=2")
		case lodgeLinksAndACLs:
			args = append(args, "--hard-links", "--acls")
		}
	}
	return args
}

// lodgeLinksAndACLs is the rsync feature two Lodge hosts add
// (LodgeFeatures.LinksAndACLs).
const lodgeLinksAndACLs = "lodge-links-acls"

// drainTimeout is how long a transfer waits, after its rsync is done,
// for the other end to mark the end of its stream.
const drainTimeout = 30 * time.Second

// SendTree sends the tree at dir over conn with rsync, as LXD's source
// does: its rsync is the client, its remote shell joined to conn. The
// tree is read in a sandbox that sees only it. only, when given, are the
// entries at the tree's top that are sent. sent counts the bytes that
// leave. allowVanished takes rsync's "some files vanished" as done.
func SendTree(ctx context.Context, dir string, only []string, conn io.ReadWriteCloser, features []string, sent *atomic.Int64, allowVanished bool) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "rsync"), os.NewFile(uintptr(fds[1]), "rsync")
	defer ours.Close()
	args := append([]string{"-ar", "--devices", "--numeric-ids", "--partial", "--sparse"}, rsyncFeatureArgs(features)...)
	if only != nil {
		for _, name := range only {
			args = append(args, "--filter=+ /"+name)
		}
		args = append(args, "--filter=- /*")
	}
	args = append(args, sandboxVolume+"/", "localhost:/tmp/foo", "-e", sandboxSelf+" "+netcatRole)
	cmd := sandboxed(ctx, false, dir, "", args)
	cmd.ExtraFiles = []*os.File{theirs}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		theirs.Close()
		return fmt.Errorf("start rsync: %w", err)
	}
	theirs.Close()
	out, in := pump(conn, &countingReader{r: ours, n: sent}, ours, func() { _ = unix.Shutdown(int(ours.Fd()), unix.SHUT_WR) }, nil)
	werr := cmd.Wait()
	if allowVanished && exitCode(werr) == 24 {
		werr = nil
	}
	return finish("rsync send", werr, &stderr, <-out, in)
}

// ReceiveTree receives a tree from conn with rsync, as LXD's target does
// (rsync --server), in a sandbox that sees only staging, with rootfs
// mounted at its rootfs/ (which must be there): the instance's files go
// straight to their place, the rest of the tree to staging, for the
// caller to check. got counts the bytes that arrive.
func ReceiveTree(ctx context.Context, staging, rootfs string, conn io.ReadWriteCloser, features []string, got *atomic.Int64) error {
	return receiveTree(ctx, staging, rootfs, sandboxVolume+"/", nil, conn, features, got)
}

// The folders of a workspace ReceiveTreeLinked fills.
const (
	LinkedOld = "old"
	LinkedNew = "new"
)

// ReceiveTreeLinked receives a tree into workspace/new (empty), where
// each file the sender has as workspace/old has it, content and
// attributes, is a hard link to old's (rsync's --link-dest): the tree
// costs what changed, and old, which rsync never writes, stays as it was
// (a sender can reach it only through links it makes in new, as it can
// any part of the one volume both trees are). The sandbox sees the whole
// workspace: link() does not cross mounts.
func ReceiveTreeLinked(ctx context.Context, workspace string, conn io.ReadWriteCloser, features []string, got *atomic.Int64) error {
	return receiveTree(ctx, workspace, "", sandboxVolume+"/"+LinkedNew+"/", []string{"--link-dest=" + sandboxVolume + "/" + LinkedOld}, conn, features, got)
}

// receiveTree runs the receiver over dir (rootfs at its rootfs/), into
// dest, a path in the sandbox.
func receiveTree(ctx context.Context, dir, rootfs, dest string, extra []string, conn io.ReadWriteCloser, features []string, got *atomic.Int64) error {
	// Times to the nanosecond (the receiver's choice): a file rewritten
	// at its size within the second of an earlier tree would be skipped.
	args := append([]string{"--server", "-vlogDtpre.iLsfx", "--numeric-ids", "--devices", "--partial", "--sparse", "--modify-window=-1"}, rsyncFeatureArgs(features)...)
	args = append(args, extra...)
	args = append(args, ".", dest)
	cmd := sandboxed(ctx, true, dir, rootfs, args)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start rsync: %w", err)
	}
	out, in := pump(conn, stdout, stdin, func() { _ = stdin.Close() }, got)
	// rsync's output is read to its end before Wait, which closes it.
	outErr := <-out
	return finish("rsync receive", cmd.Wait(), &stderr, outErr, in)
}

// pump joins rsync (its output from, its input to) to the websocket
// conn, each way in a goroutine: from rsync until it ends, then the end
// mark; from the websocket to the other end's end mark (read on even once
// rsync has gone, see drainingWriter), then closeTo ends rsync's input.
// got counts what comes from the websocket.
func pump(conn io.ReadWriteCloser, from io.Reader, to io.Writer, closeTo func(), got *atomic.Int64) (out, in <-chan error) {
	o, i := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, from)
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
		o <- err
	}()
	go func() {
		w := &drainingWriter{w: to}
		_, err := io.Copy(w, &countingReader{r: conn, n: got})
		closeTo()
		i <- errors.Join(err, w.err)
	}()
	return o, i
}

// finish gathers a transfer's outcome once its rsync has exited: the
// copy from rsync's (outErr) has ended with rsync; the one from the
// websocket ends at the other end's end-of-stream mark, which a dead peer
// never sends.
func finish(what string, werr error, stderr *bytes.Buffer, outErr error, in <-chan error) error {
	var errs []error
	if werr != nil {
		errs = append(errs, fmt.Errorf("%s: %w: %s", what, werr, strings.TrimSpace(stderr.String())))
	}
	if err := outErr; err != nil && werr == nil {
		errs = append(errs, fmt.Errorf("%s: to the other end: %w", what, err))
	}
	select {
	case err := <-in:
		if err != nil && werr == nil && !errors.Is(err, syscall.EPIPE) {
			errs = append(errs, fmt.Errorf("%s: from the other end: %w", what, err))
		}
	case <-time.After(drainTimeout):
		errs = append(errs, fmt.Errorf("%s: the other end did not finish its stream", what))
	}
	return errors.Join(errs...)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// drainingWriter writes to w until it fails, then drops what follows:
// the copy from the websocket goes on to the transfer's end mark, which
// must not be left for the next transfer to read (rsync may exit, and
// its end of the pipe close, before the other end has finished).
type drainingWriter struct {
	w   io.Writer
	err error
}

func (d *drainingWriter) Write(p []byte) (int, error) {
	if d.err == nil {
		if _, err := d.w.Write(p); err != nil {
			d.err = err
		}
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n != nil {
		c.n.Add(int64(n))
	}
	return n, err
}
