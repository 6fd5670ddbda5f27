package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

// lxdDaemon is Debian's real LXD 5.0.2, started on a scratch directory of
// its own, for tests that move things between it and Lodge.
type lxdDaemon struct {
	t   *testing.T
	dir string
	cmd *exec.Cmd
}

// startLXD starts LXD with a dir pool called default and a default profile
// whose root disk is on it.
func startLXD(t *testing.T) *lxdDaemon {
	t.Helper()
	if _, err := exec.LookPath("lxd"); err != nil {
		t.Fatal("lxd is missing: scripts/install-deps.sh installs Debian's lxd")
	}
	base := t.TempDir()
	dir := filepath.Join(base, "lxd")
	for _, p := range []string{filepath.Dir(base), base} {
		_ = os.Chmod(p, 0o711) // LXD's unprivileged containers reach their rootfs below
	}
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	l := &lxdDaemon{t: t, dir: dir}
	l.cmd = exec.Command("lxd", "--group", "root", "--logfile", filepath.Join(dir, "lxd.log"))
	l.cmd.Env = append(os.Environ(), l.env()...)
	if stderr, err := os.Create(filepath.Join(dir, "lxd.stderr")); err == nil {
		l.cmd.Stdout, l.cmd.Stderr = stderr, stderr // a panic's trace
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.stop)
	if _, stderr, err := run(l.env(), "", "lxd", "waitready", "--timeout", "60"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "lxd.log"))
		t.Fatalf("LXD did not start: %v %s\n%s", err, stderr, log)
	}
	preseed := "storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n"
	if _, stderr, err := run(l.env(), preseed, "lxd", "init", "--preseed"); err != nil {
		t.Fatalf("lxd init: %v %s", err, stderr)
	}
	return l
}

func (l *lxdDaemon) env() []string {
	return []string{"LXD_DIR=" + l.dir, "LXD_CONF=" + filepath.Join(l.dir, "conf")}
}

// MustLXC runs lxc against LXD.
func (l *lxdDaemon) MustLXC(args ...string) string {
	l.t.Helper()
	out, stderr, err := run(l.env(), "", "lxc", args...)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(l.dir, "lxd.log"))
		if trace, _ := os.ReadFile(filepath.Join(l.dir, "lxd.stderr")); len(trace) > 0 {
			log = append(log, trace...)
		}
		if len(log) > 4000 {
			log = log[len(log)-4000:]
		}
		l.t.Fatalf("LXD: lxc %s: %v\n%s\nlxd.log:\n%s", strings.Join(args, " "), err, stderr, log)
	}
	return out
}

func (l *lxdDaemon) stop() {
	_, _, _ = run(l.env(), "", "lxc", "stop", "--all", "--force")
	done := make(chan struct{})
	go func() {
		_, _, _ = run(l.env(), "", "lxd", "shutdown", "--timeout", "30")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
	}
	_ = l.cmd.Process.Kill()
	_ = l.cmd.Wait()
	_ = storagetest.UnmountBelow(l.dir)
}

// lxdAndLodge starts LXD and Lodge, each serving its API over HTTPS on
// loopback with the trust password "sesame", and returns them with an lxc
// of its own that has them as the remotes lxd and lodge.
func lxdAndLodge(t *testing.T) (*lxdDaemon, *Daemon, func(args ...string) (string, string, error)) {
	t.Helper()
	lxd := startLXD(t)
	d := startDaemon(t)
	lxdAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	lodgeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	lxd.MustLXC("config", "set", "core.https_address", lxdAddr)
	lxd.MustLXC("config", "set", "core.trust_password", "sesame")
	d.MustLXC("config", "set", "core.https_address", lodgeAddr)
	d.MustLXC("config", "set", "core.trust_password", "sesame")
	client := []string{"LXD_CONF=" + filepath.Join(t.TempDir(), "client")}
	lxc := func(args ...string) (string, string, error) { return run(client, "", "lxc", args...) }
	must(t, lxc, "remote", "add", "lxd", "https://"+lxdAddr, "--password", "sesame", "--accept-certificate")
	must(t, lxc, "remote", "add", "lodge", "https://"+lodgeAddr, "--password", "sesame", "--accept-certificate")
	return lxd, d, lxc
}

// TestBackupsWithLXD moves a stopped Debian container with two snapshots
// from Debian's LXD 5.0.2 to Lodge and from Lodge to LXD by lxc export and
// lxc import, onto dir and btrfs pools on each side, and checks files,
// owners and snapshots at the other end. It runs in parallel with the
// other slow tests.
func TestBackupsWithLXD(t *testing.T) {
	t.Parallel() // slow (two daemons, Debian unpacked many times) and on its own state
	lxd := startLXD(t)
	d := startDaemon(t)
	img := debianImage(t)
	lxd.MustLXC("image", "import", img, "--alias", "debian")
	d.MustLodge("image", "import", img, "--alias", "debian")
	lxd.MustLXC("storage", "create", "bt", "btrfs", "size=4GiB")
	d.MustLXC("storage", "create", "bt", "btrfs", "size=4GiB")

	// The same history on each side: state one, s0, two, s1, three.
	tmp := t.TempDir()
	state := filepath.Join(tmp, "state")
	history := func(lxc func(...string) string, name, pool string) {
		lxc("init", "debian", name, "--storage", pool)
		for i, content := range []string{"one", "two", "three"} {
			if err := os.WriteFile(state, []byte(content+"\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			lxc("file", "push", state, name+"/root/state", "--uid", "0", "--gid", "42")
			if i < 2 {
				lxc("snapshot", name, []string{"s0", "s1"}[i])
			}
		}
	}
	history(lxd.MustLXC, "fromlxd", "default")
	history(d.MustLXC, "fromlodge", "default")
	fromLXD, fromLodge := filepath.Join(tmp, "fromlxd.tar.zst"), filepath.Join(tmp, "fromlodge.tar.zst")
	lxd.MustLXC("export", "fromlxd", fromLXD, "--compression", "zstd")
	d.MustLXC("export", "fromlodge", fromLodge, "--compression", "zstd")
	// Optimized backups: btrfs send streams, from btrfs pools to btrfs pools.
	history(lxd.MustLXC, "optlxd", "bt")
	history(d.MustLXC, "optlodge", "bt")
	// Lodge's goes uncompressed: LXD 5.0.2 reads an optimized backup in
	// several passes, each through a new decompressor, and a pass that
	// stops early can leave the next one's input short, which hangs the
	// import (seen with LXD's own backups too); a plain tarball is read
	// without one.
	optLXD, optLodge := filepath.Join(tmp, "optlxd.tar.zst"), filepath.Join(tmp, "optlodge.tar")
	lxd.MustLXC("export", "optlxd", optLXD, "--optimized-storage", "--compression", "zstd")
	d.MustLXC("export", "optlodge", optLodge, "--optimized-storage", "--compression", "none")

	// check starts an imported container and reads it through lxc: the
	// file, its owners, a file of the image's with its group, and each
	// snapshot restored.
	check := func(where string, lxc func(...string) string, name string) {
		t.Helper()
		lxc("start", name)
		if got := lxc("exec", name, "--", "cat", "/root/state"); got != "three\n" {
			t.Fatalf("%s: /root/state of %s: %q", where, name, got)
		}
		if got := lxc("exec", name, "--", "stat", "-c", "%u:%g %a", "/root/state", "/etc/shadow"); got != "0:42 640\n0:42 640\n" {
			t.Fatalf("%s: owners in %s: %q", where, name, got)
		}
		lxc("stop", "--force", name)
		for snap, want := range map[string]string{"s0": "one\n", "s1": "two\n"} {
			lxc("restore", name, snap)
			lxc("start", name)
			if got := lxc("exec", name, "--", "cat", "/root/state"); got != want {
				t.Fatalf("%s: %s of %s: %q, want %q", where, snap, name, got, want)
			}
			lxc("stop", "--force", name)
		}
	}
	t.Run("Volumes", func(t *testing.T) {
		// A custom volume with a snapshot, each way (LXD keeps a dir pool's
		// custom volume in custom/<project>_<name>).
		lxdVol := filepath.Join(lxd.dir, "storage-pools", "default", "custom", "default_data")
		lxd.MustLXC("storage", "volume", "create", "default", "data")
		put := func(path, content string) {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		put(filepath.Join(lxdVol, "f"), "one\n")
		lxd.MustLXC("storage", "volume", "snapshot", "default", "data", "s0")
		put(filepath.Join(lxdVol, "f"), "two\n")
		volFromLXD := filepath.Join(tmp, "vol-from-lxd.tar.gz")
		lxd.MustLXC("storage", "volume", "export", "default", "data", volFromLXD)
		d.MustLXC("storage", "volume", "import", "bt", volFromLXD, "fromlxd")
		ours := filepath.Join(d.Dir, "storage-pools", "bt", "custom", "fromlxd")
		if b, _ := os.ReadFile(filepath.Join(ours, "f")); string(b) != "two\n" {
			t.Fatalf("LXD's volume in Lodge: %q", b)
		}
		d.MustLXC("storage", "volume", "restore", "bt", "fromlxd", "s0")
		if b, _ := os.ReadFile(filepath.Join(ours, "f")); string(b) != "one\n" {
			t.Fatalf("LXD's volume snapshot in Lodge: %q", b)
		}
		volFromLodge := filepath.Join(tmp, "vol-from-lodge.tar.gz")
		d.MustLXC("storage", "volume", "export", "bt", "fromlxd", volFromLodge)
		lxd.MustLXC("storage", "volume", "import", "default", volFromLodge, "back")
		theirs := filepath.Join(lxd.dir, "storage-pools", "default", "custom", "default_back")
		if b, _ := os.ReadFile(filepath.Join(theirs, "f")); string(b) != "one\n" {
			t.Fatalf("Lodge's volume in LXD: %q", b)
		}
		if out := lxd.MustLXC("query", "/1.0/storage-pools/default/volumes/custom/back/snapshots"); !strings.Contains(out, "s0") {
			t.Fatalf("Lodge's volume snapshot in LXD: %s", out)
		}
	})
	t.Run("Optimized", func(t *testing.T) {
		d.MustLXC("import", optLXD, "optlxd", "--storage", "bt")
		check("Lodge, optimized", d.MustLXC, "optlxd")
		lxd.MustLXC("import", optLodge, "optlodge2", "--storage", "bt")
		check("LXD, optimized", lxd.MustLXC, "optlodge2")
		// Only a btrfs pool takes btrfs streams.
		_, errOut, err := d.LXC("import", optLXD, "nope", "--storage", "default")
		if err == nil || !strings.Contains(errOut, "only a btrfs pool imports") {
			t.Fatalf("an optimized import into a dir pool: %v %s", err, errOut)
		}
		if _, _, err := d.LXC("info", "nope"); err == nil {
			t.Fatal("the refused import left an instance")
		}
	})
	for _, pool := range []string{"default", "bt"} {
		t.Run("LXDToLodge/"+pool, func(t *testing.T) {
			name := "lxd-" + pool
			d.MustLXC("import", fromLXD, name, "--storage", pool)
			check("Lodge", d.MustLXC, name)
			d.MustLXC("delete", "--force", name)
		})
		t.Run("LodgeToLXD/"+pool, func(t *testing.T) {
			name := "lodge-" + pool
			lxd.MustLXC("import", fromLodge, name, "--storage", pool)
			check("LXD", lxd.MustLXC, name)
			lxd.MustLXC("delete", "--force", name)
		})
	}
}

// TestImagesWithLXD copies images between Debian's LXD 5.0.2 and Lodge
// over HTTPS on loopback, driven by lxc with both as remotes: LXD pulls a
// private image from Lodge (with its secret), and Lodge one from LXD;
// then Lodge launches an instance from an image of LXD's.
func TestImagesWithLXD(t *testing.T) {
	t.Parallel()
	lxd, d, lxc := lxdAndLodge(t)
	meta, squash, _ := splitImages(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	lxd.MustLXC("image", "import", meta, squash, "--alias", "bb-squash")

	must(t, lxc, "image", "copy", "lodge:bb", "lxd:", "--alias", "from-lodge")
	must(t, lxc, "image", "copy", "lxd:bb-squash", "lodge:", "--alias", "from-lxd")
	if out := must(t, lxc, "image", "list", "lodge:", "--format", "csv"); !strings.Contains(out, "from-lxd") {
		t.Fatalf("Lodge's images after the copy from LXD: %q", out)
	}
	if out := must(t, lxc, "image", "list", "lxd:", "--format", "csv"); !strings.Contains(out, "from-lodge") {
		t.Fatalf("LXD's images after the copy from Lodge: %q", out)
	}
	must(t, lxc, "launch", "lxd:bb-squash", "lodge:c1")
	if out := must(t, lxc, "exec", "lodge:c1", "--", "echo", "from lxd"); strings.TrimSpace(out) != "from lxd" {
		t.Fatalf("exec in the instance launched from LXD's image: %q", out)
	}
	must(t, lxc, "delete", "--force", "lodge:c1")

	// Push mode both ways: each source uploads to the other with the
	// other's token (LXD's split image as a multipart form).
	must(t, lxc, "image", "delete", "lodge:from-lxd")
	must(t, lxc, "image", "delete", "lxd:from-lodge")
	must(t, lxc, "image", "copy", "lodge:bb", "lxd:", "--mode", "push", "--alias", "pushed-from-lodge")
	must(t, lxc, "image", "copy", "lxd:bb-squash", "lodge:", "--mode", "push", "--alias", "pushed-from-lxd")
	if out := must(t, lxc, "image", "list", "lodge:", "--format", "csv"); !strings.Contains(out, "pushed-from-lxd") {
		t.Fatalf("Lodge's images after LXD pushed one: %q", out)
	}
	if out := must(t, lxc, "image", "list", "lxd:", "--format", "csv"); !strings.Contains(out, "pushed-from-lodge") {
		t.Fatalf("LXD's images after Lodge pushed one: %q", out)
	}
	must(t, lxc, "launch", "lodge:pushed-from-lxd", "lodge:c2")
	if out := must(t, lxc, "exec", "lodge:c2", "--", "echo", "pushed"); strings.TrimSpace(out) != "pushed" {
		t.Fatalf("exec in the instance of the image LXD pushed: %q", out)
	}
	must(t, lxc, "delete", "--force", "lodge:c2")
}

// TestVolumesWithLXD copies a custom volume with a snapshot from Debian's
// LXD 5.0.2 to Lodge, and another from Lodge to LXD (LXD pulling, and
// Lodge pushing), on dir pools, driven by lxc with both as remotes, and
// reads the files at the other end.
func TestVolumesWithLXD(t *testing.T) {
	t.Parallel()
	lxd, d, lxc := lxdAndLodge(t)
	write := func(dir, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(dir, "f"), 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	read := func(path, want string) {
		t.Helper()
		data, err := os.ReadFile(path)
		st, serr := os.Stat(path)
		if err != nil || serr != nil || string(data) != want || st.Sys().(*syscall.Stat_t).Uid != 1000 {
			t.Fatalf("%s: %q %v %v (want %q, uid 1000)", path, data, err, serr, want)
		}
	}
	// On LXD: v1 with snapshot s0, then changed.
	must(t, lxc, "storage", "volume", "create", "lxd:default", "v1")
	lxdVol := filepath.Join(lxd.dir, "storage-pools/default/custom/default_v1")
	write(lxdVol, "old")
	must(t, lxc, "storage", "volume", "snapshot", "lxd:default", "v1", "s0")
	write(lxdVol, "new")
	must(t, lxc, "storage", "volume", "copy", "lxd:default/v1", "lodge:default/v1")
	read(filepath.Join(d.Dir, "storage-pools/default/custom/v1/f"), "new")
	read(filepath.Join(d.Dir, "storage-pools/default/custom-snapshots/v1/s0/f"), "old")

	// On Lodge: w1 with snapshot s0, then changed, pushed to LXD.
	must(t, lxc, "storage", "volume", "create", "lodge:default", "w1")
	lodgeVol := filepath.Join(d.Dir, "storage-pools/default/custom/w1")
	write(lodgeVol, "old")
	must(t, lxc, "storage", "volume", "snapshot", "lodge:default", "w1", "s0")
	// LXD's rsync receiver compares times to the second: a file rewritten
	// at its size within the snapshot's second would not be sent again.
	time.Sleep(1100 * time.Millisecond)
	write(lodgeVol, "new")
	for _, mode := range []string{"pull", "push"} {
		must(t, lxc, "storage", "volume", "copy", "lodge:default/w1", "lxd:default/w-"+mode, "--mode", mode)
		read(filepath.Join(lxd.dir, "storage-pools/default/custom/default_w-"+mode+"/f"), "new")
		read(filepath.Join(lxd.dir, "storage-pools/default/custom-snapshots/default_w-"+mode+"/s0/f"), "old")
	}

	// Refreshes both ways (custom_volume_refresh): a new snapshot and
	// newer files come.
	must(t, lxc, "storage", "volume", "snapshot", "lxd:default", "v1", "s1")
	must(t, lxc, "storage", "volume", "snapshot", "lodge:default", "w1", "s1")
	time.Sleep(1100 * time.Millisecond)
	write(lxdVol, "newer")
	write(lodgeVol, "newer")
	must(t, lxc, "storage", "volume", "copy", "lxd:default/v1", "lodge:default/v1", "--refresh")
	read(filepath.Join(d.Dir, "storage-pools/default/custom/v1/f"), "newer")
	read(filepath.Join(d.Dir, "storage-pools/default/custom-snapshots/v1/s1/f"), "new")
	must(t, lxc, "storage", "volume", "copy", "lodge:default/w1", "lxd:default/w-pull", "--refresh")
	read(filepath.Join(lxd.dir, "storage-pools/default/custom/default_w-pull/f"), "newer")
	read(filepath.Join(lxd.dir, "storage-pools/default/custom-snapshots/default_w-pull/s1/f"), "new")
}
