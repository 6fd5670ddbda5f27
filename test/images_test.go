package test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

func TestImages(t *testing.T) {
	d := startDaemon(t)
	path := busyboxImage(t)
	fp := fingerprint(t, path)

	out := d.MustLodge("image", "import", path, "--alias", "bb", "--alias", "bb2")
	if !strings.Contains(out, fp) {
		t.Fatalf("import printed %q, want fingerprint %s", out, fp)
	}
	var img api.Image
	for _, ref := range []string{fp, fp[:8]} {
		_, env := d.API("GET", "/1.0/images/"+ref, nil)
		if err := json.Unmarshal(env.Metadata, &img); err != nil || img.Fingerprint != fp {
			t.Fatalf("GET by %q: %+v %v", ref, img, err)
		}
	}
	if img.Properties["os"] != "busybox" || len(img.Aliases) != 2 || img.Architecture == "" {
		t.Fatalf("image record: %+v", img)
	}
	// The image is unpacked once, into the pool.
	if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "default", "images", fp, "rootfs", "bin", "busybox")); err != nil {
		t.Fatalf("image not unpacked in the pool: %v", err)
	}
	// Properties change through PATCH.
	if st, env := d.API("PATCH", "/1.0/images/"+fp[:12], map[string]any{"properties": map[string]string{"team": "ops"}}); st != 200 {
		t.Fatalf("patch properties: %d %s", st, env.Error)
	}
	_, env := d.API("GET", "/1.0/images/"+fp, nil)
	_ = json.Unmarshal(env.Metadata, &img)
	if img.Properties["team"] != "ops" || img.Properties["os"] != "busybox" {
		t.Fatalf("properties after patch: %v", img.Properties)
	}
	// Aliases: rename, re-point, delete.
	if st, env := d.API("POST", "/1.0/images/aliases/bb2", api.ImageAliasesEntryPost{Name: "bb3"}); st != 201 {
		t.Fatalf("rename alias: %d %s", st, env.Error)
	}
	d.MustLodge("image", "alias", "delete", "bb3")
	if out := d.MustLodge("image", "list", "--format", "csv"); !strings.Contains(out, "bb") || strings.Contains(out, "bb3") {
		t.Fatalf("image list: %q", out)
	}
	// Export gives back the same bytes.
	resp, err := d.http.Get("http://lodge/1.0/images/" + fp + "/export")
	if err != nil {
		t.Fatal(err)
	}
	exported, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := sha256.Sum256(exported); hex.EncodeToString(got[:]) != fp {
		t.Fatal("exported image differs from the imported one")
	}
	// An instance launched by fingerprint prefix.
	name := uniq("byfp")
	d.MustLodge("launch", fp[:10], name)
	d.MustLodge("delete", "-f", name)
	d.MustLodge("image", "delete", "bb")
	if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "default", "images", fp)); !os.IsNotExist(err) {
		t.Fatal("image volume left after delete")
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "images", fp)); !os.IsNotExist(err) {
		t.Fatal("image file left after delete")
	}
}

// TestSplitImage imports a metadata tarball and a squashfs rootfs with lxc,
// the way LXD's own images come.
func TestSplitImage(t *testing.T) {
	d := startDaemon(t)
	work := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", busyboxImage(t), "-C", work).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	meta := filepath.Join(work, "meta.tar.xz")
	if out, err := exec.Command("tar", "-cJf", meta, "-C", work, "metadata.yaml").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	squash := filepath.Join(work, "rootfs.squashfs")
	if out, err := exec.Command("mksquashfs", filepath.Join(work, "rootfs"), squash, "-noappend", "-quiet").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	d.MustLXC("image", "import", meta, squash, "--alias", "split")
	name := uniq("split")
	d.MustLXC("launch", "split", name)
	if out := d.MustLodge("exec", name, "--", "busybox", "true"); out != "" {
		t.Fatalf("exec in split-image container: %q", out)
	}
	// The same split image again, as a zstd rootfs tarball through lodge.
	tarRootfs := filepath.Join(work, "rootfs.tar.zst")
	if out, err := exec.Command("tar", "--zstd", "-cf", tarRootfs, "-C", filepath.Join(work, "rootfs"), ".").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	d.MustLodge("image", "import", meta, tarRootfs, "--alias", "split-zstd")
	d.MustLodge("launch", "split-zstd", uniq("zstd"))

	// lxc image export writes LXD's names: meta-<fp>.tar.xz and
	// <fp>.squashfs for the split image, <fp>.tar.gz for a unified one;
	// both re-import unchanged.
	fp := fingerprintOf(t, meta, squash)
	out := t.TempDir()
	d.MustLXC("image", "export", "split", out+"/")
	for _, f := range []string{"meta-" + fp + ".tar.xz", fp + ".squashfs"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("lxc image export did not write %s: %v", f, err)
		}
	}
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "unified")
	d.MustLXC("image", "export", "unified", out+"/")
	unified := filepath.Join(out, fingerprint(t, busyboxImage(t))+".tar.gz")
	if _, err := os.Stat(unified); err != nil {
		t.Fatalf("lxc image export of a unified image: %v", err)
	}
	d.MustLXC("delete", "-f", name)
	for _, alias := range []string{"split", "split-zstd", "unified"} {
		d.MustLXC("image", "delete", alias)
	}
	d.MustLXC("image", "import", filepath.Join(out, "meta-"+fp+".tar.xz"), filepath.Join(out, fp+".squashfs"), "--alias", "again")
	if info := d.MustLXC("image", "info", "again"); !strings.Contains(info, fp) {
		t.Fatalf("the re-imported split image has another fingerprint:\n%s", info)
	}
	d.MustLXC("image", "import", unified, "--alias", "unified-again")
	if info := d.MustLXC("image", "info", "unified-again"); !strings.Contains(info, fingerprint(t, busyboxImage(t))) {
		t.Fatalf("the re-imported unified image has another fingerprint:\n%s", info)
	}

	// An unpacked image directory, through lxc (which packs it) and lodge.
	dir := filepath.Join(work, "unpacked")
	for _, sub := range []string{"rootfs", "templates"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(work, "rootfs")+"/.", filepath.Join(dir, "rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := exec.Command("cp", filepath.Join(work, "metadata.yaml"), dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	d.MustLXC("image", "import", dir, "--alias", "from-dir")
	d.MustLXC("launch", "from-dir", uniq("dir"))
	if err := os.WriteFile(filepath.Join(dir, "rootfs", "etc", "marker"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err) // another image, so another fingerprint
	}
	d.MustLodge("image", "import", dir, "--alias", "from-dir-lodge")
	fromDir := uniq("dir")
	d.MustLodge("launch", "from-dir-lodge", fromDir)
	if out := d.MustLodge("exec", fromDir, "--", "cat", "/etc/marker"); out != "2\n" {
		t.Fatalf("image imported from a directory by lodge: %q", out)
	}
}

// fingerprintOf is LXD's fingerprint of a split image: the sha256 of its
// metadata file followed by its rootfs file.
func fingerprintOf(t *testing.T, files ...string) string {
	t.Helper()
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestImageDeletedWhileInUse: instances layered on an image keep working
// after the image is deleted; its unpacked tree goes with its last user.
func TestImageDeletedWhileInUse(t *testing.T) {
	d := startDaemon(t)
	path := busyboxImage(t)
	fp := fingerprint(t, path)
	poolImage := filepath.Join(d.Dir, "storage-pools", "default", "images", fp)

	d.MustLodge("image", "import", path, "--alias", "bb")
	name := uniq("orphan")
	d.MustLodge("launch", "bb", name)
	d.MustLodge("exec", name, "--", "sh", "-c", "echo kept > /root/mark")
	d.MustLodge("snapshot", name, "s0")
	d.MustLodge("image", "delete", "bb")
	if _, stderr, err := d.Lodge("launch", fp[:12], uniq("late")); err == nil || !strings.Contains(stderr, "not found") {
		t.Fatalf("launch from a deleted image: %v %q", err, stderr)
	}
	d.MustLodge("restart", "-f", name)
	if got := strings.TrimSpace(d.MustLodge("exec", name, "--", "cat", "/root/mark", "/etc/hostname")); !strings.HasPrefix(got, "kept") {
		t.Fatalf("instance of a deleted image reads %q", got)
	}
	copyName := uniq("copy")
	d.MustLodge("copy", name+"/s0", copyName)
	d.MustLodge("start", copyName)
	if got := strings.TrimSpace(d.MustLodge("exec", copyName, "--", "cat", "/root/mark")); got != "kept" {
		t.Fatalf("copy of a snapshot of a deleted image reads %q", got)
	}

	// Imported again, the image is usable at once; deleted again, its tree
	// stays until the last instance using it is gone.
	d.MustLodge("image", "import", path, "--alias", "bb")
	d.MustLodge("launch", "bb", uniq("again"))
	d.MustLodge("image", "delete", "bb")
	d.MustLodge("delete", "-f", copyName)
	if _, err := os.Stat(poolImage); err != nil {
		t.Fatalf("the image's tree went while instances use it: %v", err)
	}
	var names []string
	_, env := d.API("GET", "/1.0/instances", nil)
	_ = json.Unmarshal(env.Metadata, &names)
	for _, u := range names {
		d.MustLodge("delete", "-f", filepath.Base(u))
	}
	if _, err := os.Stat(poolImage); !os.IsNotExist(err) {
		t.Fatalf("the deleted image's tree outlived its instances: %v", err)
	}
}

// fingerprint is an image file's sha256, as lodged names it.
func fingerprint(t *testing.T, path string) string {
	t.Helper()
	return fingerprintOf(t, path)
}

// TestImageProfilesAndExpiry: an image's profiles (lxc image edit) apply
// to an instance launched from it without a profile list of its own, not
// to one given -p; its expiry is edited too (LXD's image_profiles and
// images_expiry).
func TestImageProfilesAndExpiry(t *testing.T) {
	d := withBusybox(t)
	d.MustLXC("profile", "create", "extra")
	d.MustLXC("profile", "set", "extra", "user.from", "image")
	shown := d.MustLXC("image", "show", "busybox")
	edited := strings.Replace(shown, "- default", "- default\n- extra", 1)
	edited = regexp.MustCompile(`(?m)^expires_at: .*$`).ReplaceAllString(edited, "expires_at: 2031-01-02T03:04:05Z")
	if _, stderr, err := run(d.lxcEnv(), edited, "lxc", "image", "edit", "busybox"); err != nil {
		t.Fatalf("lxc image edit: %v %s", err, stderr)
	}
	if out := d.MustLXC("image", "show", "busybox"); !strings.Contains(out, "- extra") || !strings.Contains(out, "2031-01-02T03:04:05Z") {
		t.Fatalf("the edit did not take: %s", out)
	}
	d.MustLXC("init", "busybox", "withimage")
	if out := d.MustLXC("config", "get", "withimage", "user.from", "--expanded"); strings.TrimSpace(out) != "image" {
		t.Fatalf("an instance without a profile list did not get the image's profiles: %q", out)
	}
	d.MustLXC("init", "busybox", "own", "-p", "default")
	if out := d.MustLXC("config", "get", "own", "user.from", "--expanded"); strings.TrimSpace(out) != "" {
		t.Fatalf("an instance with its own profile list got the image's: %q", out)
	}
	// PATCH leaves what it does not name.
	if st, env := d.API("PATCH", "/1.0/images/"+fingerprintOf(t, busyboxImage(t)), map[string]any{"public": true}); st >= 300 {
		t.Fatalf("PATCH: %d %s", st, env.Error)
	}
	if out := d.MustLXC("image", "show", "busybox"); !strings.Contains(out, "- extra") || !strings.Contains(out, "2031-01-02T03:04:05Z") {
		t.Fatalf("a PATCH of public changed the profiles or the expiry: %s", out)
	}
}
