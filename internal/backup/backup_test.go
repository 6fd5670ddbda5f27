package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/internal/idmap"
)

// A tree written with the instance's map comes out with the instance's
// own ids, links stay links (never followed), hard links are links, and
// an owner outside the map is left out.
func TestWriteTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	dir := t.TempDir()
	vol := filepath.Join(dir, "vol")
	rootfs := filepath.Join(vol, "rootfs")
	m := &idmap.Map{HostUID: 100000, HostGID: 100000, Size: 65536}
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("root\n"), 0o644))
	must(os.Link(filepath.Join(rootfs, "etc", "passwd"), filepath.Join(rootfs, "etc", "passwd-link")))
	must(os.Symlink("/etc", filepath.Join(rootfs, "hostlink")))
	must(os.WriteFile(filepath.Join(rootfs, "suid"), nil, 0o4755))
	must(os.WriteFile(filepath.Join(rootfs, "stranger"), []byte("x"), 0o644))
	for _, p := range []string{rootfs, filepath.Join(rootfs, "etc"), filepath.Join(rootfs, "etc", "passwd"), filepath.Join(rootfs, "suid")} {
		must(os.Lchown(p, 100000, 100000+42))
	}
	must(os.Chmod(filepath.Join(rootfs, "suid"), 0o755|os.ModeSetuid)) // chown dropped it
	must(os.Lchown(filepath.Join(rootfs, "hostlink"), 100000, 100000))
	must(os.Lchown(filepath.Join(rootfs, "stranger"), 5000, 5000)) // outside the map
	file := filepath.Join(dir, "b.tar")
	w, err := Create(file, "none")
	must(err)
	must(w.AddFile("backup/index.yaml", []byte("name: c\ntype: container\n")))
	must(w.AddTree(context.Background(), "backup/container", vol, []string{"rootfs", "missing"}, m))
	must(w.Close())

	f, err := os.Open(file)
	must(err)
	defer f.Close()
	got := map[string]*tar.Header{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(err)
		got[h.Name] = h
	}
	if h := got["backup/container/rootfs/etc/passwd"]; h == nil || h.Uid != 0 || h.Gid != 42 {
		t.Fatalf("passwd: %+v", h)
	}
	if h := got["backup/container/rootfs/etc/passwd-link"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "backup/container/rootfs/etc/passwd" {
		t.Fatalf("the hard link: %+v", h)
	}
	if h := got["backup/container/rootfs/hostlink"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/etc" {
		t.Fatalf("the link: %+v", h)
	}
	if got["backup/container/rootfs/hostlink/passwd"] != nil || got["backup/container/rootfs/hostlink/hostname"] != nil {
		t.Fatal("the walk followed a link out of the tree")
	}
	if h := got["backup/container/rootfs/suid"]; h == nil || h.Mode&0o4000 == 0 {
		t.Fatalf("the setuid file: %+v", h)
	}
	if got["backup/container/rootfs/stranger"] != nil {
		t.Fatal("a file owned outside the map went into the backup")
	}

	// Read back: the index, and a tree extracted by GNU tar.
	idx, err := ReadIndex(context.Background(), file)
	if err != nil || idx.Name != "c" || idx.Type != "container" {
		t.Fatalf("index: %+v %v", idx, err)
	}
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	out := filepath.Join(dir, "out")
	must(os.Mkdir(out, 0o755))
	must(Extract(context.Background(), file, "backup/container", out))
	must(CheckTree(out))
	if b, err := os.ReadFile(filepath.Join(out, "rootfs", "etc", "passwd")); err != nil || string(b) != "root\n" {
		t.Fatalf("extracted passwd: %q %v", b, err)
	}
}

// FilesIDMap reads LXD's volatile.last_state.idmap.
func TestFilesIDMap(t *testing.T) {
	m, err := FilesIDMap(map[string]string{"volatile.last_state.idmap": `[{"Isuid":true,"Isgid":false,"Hostid":1000000,"Nsid":0,"Maprange":1000000000},{"Isuid":false,"Isgid":true,"Hostid":1000000,"Nsid":0,"Maprange":1000000000}]`})
	if err != nil || m == nil || m.HostUID != 1000000 || m.HostGID != 1000000 || m.Size != 1000000000 {
		t.Fatalf("LXD's default map: %+v %v", m, err)
	}
	if m, err := FilesIDMap(map[string]string{"volatile.last_state.idmap": "[]"}); err != nil || m != nil {
		t.Fatalf("an empty map: %+v %v", m, err)
	}
	// With raw.idmap entries, as LXD writes them: the main range cut
	// around host 1000's line. What LXDIDMap writes reads back the same.
	lxd := `[{"Isuid":true,"Isgid":true,"Hostid":1000000,"Nsid":0,"Maprange":1000},{"Isuid":true,"Isgid":true,"Hostid":1000,"Nsid":1000,"Maprange":1},` +
		`{"Isuid":true,"Isgid":true,"Hostid":1001001,"Nsid":1001,"Maprange":999998999}]`
	m, err = FilesIDMap(map[string]string{"volatile.last_state.idmap": lxd})
	if err != nil || m.HostUID != 1000000 || m.Size != 1000000000 || len(m.Raw) != 1 || m.Raw[0] != (idmap.Raw{UID: true, GID: true, Host: 1000, Container: 1000, Count: 1}) {
		t.Fatalf("LXD's map with a raw entry: %+v %v", m, err)
	}
	if again, err := FilesIDMap(map[string]string{"volatile.last_state.idmap": LXDIDMap(m)}); err != nil || !idmap.Equal(again, m) {
		t.Fatalf("written and read again: %+v %v", again, err)
	}
	for _, bad := range []string{`[{"Isuid":true,"Isgid":true,"Hostid":1000000,"Nsid":5,"Maprange":10}]`, `not json`, `[{"Isuid":true,"Isgid":false,"Hostid":1,"Nsid":0,"Maprange":10}]`} {
		if _, err := FilesIDMap(map[string]string{"volatile.last_state.idmap": bad}); err == nil {
			t.Fatalf("%s was taken", bad)
		}
	}
}

// Merge moves new entries in, replaces changed ones, merges directories,
// and RemovePaths deletes; neither goes through a link out of the root.
func TestMergeAndRemoveStayInside(t *testing.T) {
	base := t.TempDir()
	vol := filepath.Join(base, "vol")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{vol + "/rootfs/etc", vol + "/.merge/rootfs/etc", vol + "/.merge/rootfs/new", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(vol+"/rootfs/etc/keep", "keep")
	write(vol+"/rootfs/etc/changed", "old")
	write(vol+"/.merge/rootfs/etc/changed", "new")
	write(vol+"/.merge/rootfs/new/f", "f")
	write(outside+"/victim", "victim")
	// A link out of the volume, and an increment writing through it.
	if err := os.Symlink(outside, vol+"/rootfs/out"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(vol+"/.merge/rootfs/out", 0o755); err != nil {
		t.Fatal(err)
	}
	write(vol+"/.merge/rootfs/out/victim", "overwritten")
	root, err := os.OpenRoot(vol)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := Merge(root, ".merge", "."); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"rootfs/etc/keep": "keep", "rootfs/etc/changed": "new", "rootfs/new/f": "f", "rootfs/out/victim": "overwritten"} {
		if b, _ := os.ReadFile(filepath.Join(vol, p)); string(b) != want {
			t.Fatalf("%s after the merge: %q, want %q", p, b, want)
		}
	}
	if b, _ := os.ReadFile(outside + "/victim"); string(b) != "victim" {
		t.Fatalf("the merge wrote outside the volume: %q", b)
	}
	// Deletions through a link out are refused; inside they go.
	if err := os.Symlink(outside, vol+"/rootfs/out2"); err != nil {
		t.Fatal(err)
	}
	if err := RemovePaths(root, []string{"rootfs/out2/victim"}); err == nil {
		t.Fatal("a delete through a link out of the volume was done")
	}
	if err := RemovePaths(root, []string{"rootfs/etc/keep", "../outside/victim"}); err == nil {
		t.Fatal("a path with .. was taken")
	}
	if _, err := os.Stat(outside + "/victim"); err != nil {
		t.Fatalf("the victim: %v", err)
	}
}

// A stream goes into a plain tarball straight, its header written after
// it; the tarball reads back whole, members in order.
func TestAddStreamInPlace(t *testing.T) {
	for _, algo := range []string{"none", "gzip"} {
		file := filepath.Join(t.TempDir(), "b.tar")
		w, err := Create(file, algo)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddFile("backup/index.yaml", []byte("name: x\n")); err != nil {
			t.Fatal(err)
		}
		stream := bytes.Repeat([]byte("0123456789"), 1001) // not a whole block
		err = w.AddStream("backup/container.bin", t.TempDir(), func(out io.Writer) error {
			_, err := out.Write(stream)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddFile("backup/after", []byte("after")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, closeFn, err := open(context.Background(), file)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(r)
		var names []string
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", algo, err)
			}
			names = append(names, h.Name)
			data, _ := io.ReadAll(tr)
			if h.Name == "backup/container.bin" && !bytes.Equal(data, stream) {
				t.Fatalf("%s: the stream read back is %d bytes, want %d", algo, len(data), len(stream))
			}
		}
		closeFn()
		if strings.Join(names, ",") != "backup/index.yaml,backup/container.bin,backup/after" {
			t.Fatalf("%s: members %v", algo, names)
		}
	}
}
