// Package spool holds files that are read while they are still being
// written: an upload spooled to disk whose readers follow it as it grows,
// so that the work on it overlaps the upload instead of waiting for its
// end.
package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// File is a file being written. Open, given its path, follows it: a
// read at its end waits for more, and the end of the file is the end of
// the writing (or its error). Done must be called once, however the
// writing ends.
type File struct {
	w    *os.File
	mu   sync.Mutex
	more *sync.Cond
	size int64
	done bool
	err  error
}

var growing sync.Map // path → *File, while it is written

// Create makes a new file in dir (os.CreateTemp's pattern) to be written
// and followed.
func Create(dir, pattern string) (*File, error) {
	w, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	f := &File{w: w}
	f.more = sync.NewCond(&f.mu)
	growing.Store(w.Name(), f)
	return f, nil
}

// Name is the file's path.
func (f *File) Name() string { return f.w.Name() }

// Write appends p and wakes the readers waiting for it.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.mu.Lock()
	f.size += int64(n)
	f.mu.Unlock()
	f.more.Broadcast()
	return n, err
}

// Done ends the writing: readers at the end get io.EOF, or err when the
// writing failed (the file is then incomplete). It closes the file. Only
// the first call counts.
func (f *File) Done(err error) error {
	f.mu.Lock()
	if f.done {
		f.mu.Unlock()
		return nil
	}
	if cerr := f.w.Close(); err == nil {
		err = cerr
	}
	f.done, f.err = true, err
	f.mu.Unlock()
	f.more.Broadcast()
	growing.Delete(f.Name())
	return err
}

// Open opens the file at path for reading: a follower while it is being
// written (see File), the file itself otherwise.
func Open(path string) (io.ReadCloser, error) {
	v, ok := growing.Load(path)
	if !ok {
		return os.Open(path)
	}
	f := v.(*File)
	r, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &follower{f: f, r: r}, nil
}

type follower struct {
	f   *File
	r   *os.File
	off int64
}

func (fo *follower) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f := fo.f
	f.mu.Lock()
	for fo.off >= f.size && !f.done {
		f.more.Wait()
	}
	size, done, werr := f.size, f.done, f.err
	f.mu.Unlock()
	if fo.off >= size {
		if done && werr != nil {
			return 0, fmt.Errorf("the upload failed: %w", werr)
		}
		return 0, io.EOF
	}
	if avail := size - fo.off; int64(len(p)) > avail {
		p = p[:avail]
	}
	n, err := fo.r.ReadAt(p, fo.off)
	fo.off += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

func (fo *follower) Close() error { return fo.r.Close() }

// Wait waits until the file at path is no longer being written, and
// returns the writing's error. A file that is not being written is there
// already.
func Wait(ctx context.Context, path string) error {
	v, ok := growing.Load(path)
	if !ok {
		return nil
	}
	f := v.(*File)
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.more.Broadcast()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for !f.done && ctx.Err() == nil {
		f.more.Wait()
	}
	if !f.done {
		return ctx.Err()
	}
	if f.err != nil {
		return fmt.Errorf("the upload failed: %w", f.err)
	}
	return nil
}
