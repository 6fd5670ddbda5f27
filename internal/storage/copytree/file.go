package copytree

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// CopyFile copies the regular file src to dst, which must not exist, with
// src's permission bits. src is never followed as a link nor opened as
// anything else (a FIFO or a device node in its place is refused), as the
// trees Lodge copies files out of (images, volumes) are untrusted.
func CopyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
