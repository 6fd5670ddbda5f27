package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

func TestCopyChunkedCopiesExactly(t *testing.T) {
	for _, size := range []int{0, 1, spoolChunk - 1, spoolChunk, 3*spoolChunk + 17} {
		src := bytes.Repeat([]byte("lodge!"), size/6+1)[:size]
		var dst bytes.Buffer
		// One byte per read at most: chunks are filled across reads.
		n, err := copyChunked(&dst, iotest.HalfReader(bytes.NewReader(src)))
		if err != nil || n != int64(size) || !bytes.Equal(dst.Bytes(), src) {
			t.Fatalf("size %d: copied %d, err %v, equal %v", size, n, err, bytes.Equal(dst.Bytes(), src))
		}
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestCopyChunkedStopsOnErrors(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader(make([]byte, 2*spoolChunk+5)), iotest.ErrReader(boom))
	if n, err := copyChunked(io.Discard, r); !errors.Is(err, boom) || n != 2*spoolChunk+5 {
		t.Errorf("a read error: copied %d, err %v", n, err)
	}
	// A download cut short says so (io.ReadFull's own short-read error is
	// not the stream's end).
	cut := io.MultiReader(bytes.NewReader(make([]byte, spoolChunk/2)), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := copyChunked(io.Discard, cut); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a download cut short: %v", err)
	}
	// A write error stops the copy though the reader has more.
	if _, err := copyChunked(&failingWriter{after: 1}, bytes.NewReader(make([]byte, 10*spoolChunk))); err == nil || err.Error() != "disk full" {
		t.Errorf("a write error: %v", err)
	}
}

func TestFirstMemberOfGzip(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, gz bool, members ...tar.Header) string {
		var buf bytes.Buffer
		var w io.Writer = &buf
		var zw *gzip.Writer
		if gz {
			zw = gzip.NewWriter(&buf)
			w = zw
		}
		tw := tar.NewWriter(w)
		for _, h := range members {
			body := []byte("architecture: x86_64\n")
			if h.Typeflag == tar.TypeReg {
				h.Size = int64(len(body))
			}
			h.Mode = 0o644
			if err := tw.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				_, _ = tw.Write(body)
			}
		}
		_ = tw.Close()
		if zw != nil {
			_ = zw.Close()
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	reg := func(n string) tar.Header { return tar.Header{Name: n, Typeflag: tar.TypeReg} }
	if raw, ok := firstMemberOfGzip(write("a.tar.gz", true, reg("./metadata.yaml"), reg("rootfs/x")), "metadata.yaml"); !ok || string(raw) != "architecture: x86_64\n" {
		t.Errorf("metadata.yaml first: %q %v", raw, ok)
	}
	// Anything else is tar's to read (and to refuse).
	for name, file := range map[string]string{
		"not first": write("b.tar.gz", true, reg("rootfs/x"), reg("metadata.yaml")),
		"a link":    write("c.tar.gz", true, tar.Header{Name: "metadata.yaml", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}),
		"not gzip":  write("d.tar", false, reg("metadata.yaml")),
		"missing":   filepath.Join(dir, "missing"),
	} {
		if _, ok := firstMemberOfGzip(file, "metadata.yaml"); ok {
			t.Errorf("%s: read in-process", name)
		}
	}
}
