package dir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// overlayfs copies a file up from its idmapped lower layer (the image)
// with its POSIX ACLs as they are on disk, in the image's ids, not as the
// instance sees them (Linux 6.18 does so): a copy-up (a chmod or chown
// inside, a migration's check) would turn an ACL's group 4 (adm), seen as
// the instance's 100004, into a host group 4 the instance cannot name.
// So a layered volume's entries that carry ACLs are copied up at its
// mount, each ACL moved onto the volume's map.

// aclListName is where an image volume keeps the entries of its rootfs
// that carry ACLs, found once (image volumes do not change).
const aclListName = ".acl-entries"

// aclEntries lists the rootfs entries of image fp with POSIX ACLs, as
// paths below rootfs.
func (d *Driver) aclEntries(fp string) ([]string, error) {
	list := filepath.Join(d.imageDir(fp), aclListName)
	if data, err := os.ReadFile(list); err == nil {
		if len(data) == 0 {
			return nil, nil
		}
		return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), nil
	}
	rootfs := filepath.Join(d.imageDir(fp), "rootfs")
	var out []string
	err := filepath.WalkDir(rootfs, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.Type()&fs.ModeSymlink != 0 || (!e.IsDir() && !e.Type().IsRegular()) {
			return err
		}
		if hasACL(p) {
			rel, _ := filepath.Rel(rootfs, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, p := range out {
		b.WriteString(p + "\n")
	}
	writeList(list, b.String())
	return out, nil
}

// writeList keeps the list (through a synced temporary file and a
// rename, so a crash leaves none rather than part of one); a failure
// only means the image is walked again next time.
func writeList(path, content string) {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		_ = os.Remove(path + ".tmp")
	}
}

func hasACL(p string) bool {
	for _, name := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
		if n, err := unix.Lgetxattr(p, name, nil); err == nil && n > 0 {
			return true
		}
	}
	return false
}

// copyUpACLs copies up each of entries in the mounted rootfs of a layered
// volume that is still the image's, with its ACLs as the overlay shows
// them (on the volume's map, through the idmapped lower). An entry the
// volume has already (in upper/) is its own, and left alone.
func copyUpACLs(vol string, entries []string) error {
	rootfs, upper := filepath.Join(vol, "rootfs"), filepath.Join(vol, "upper")
	for _, rel := range entries {
		if _, err := os.Lstat(filepath.Join(upper, rel)); err == nil || !errors.Is(err, os.ErrNotExist) {
			continue // copied up already (or deleted: a whiteout), or unreadable
		}
		p := filepath.Join(rootfs, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			continue // gone in the volume
		}
		// Reading through the overlay gives the ACLs on the instance's ids.
		acls := map[string][]byte{}
		for _, name := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
			if v, err := getxattr(p, name); err == nil && len(v) > 0 {
				acls[name] = v
			}
		}
		// A chown to its own owner copies the entry up, ACLs raw...
		if err := unix.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		// ...and these put them back as the instance saw them.
		for name, v := range acls {
			if err := unix.Lsetxattr(p, name, v, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

func getxattr(p, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
