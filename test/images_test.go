package test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

func TestImages(t *testing.T) {
	d := startDaemon(t)
	path := busyboxImage(t)
	data, _ := os.ReadFile(path)
	sum := sha256.Sum256(data)
	fp := hex.EncodeToString(sum[:])

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
}
