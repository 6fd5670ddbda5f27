package test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Attacks on the API: what an image, a request or the inside of a
// container can try against the host, and lost updates under concurrency.

// raw sends a request with headers and returns its status and body.
func (d *Daemon) raw(method, path string, headers map[string]string, body []byte) (int, string) {
	d.t.Helper()
	req, err := http.NewRequest(method, "http://lodge"+path, bytes.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func filesPath(name, path string) string {
	return "/1.0/instances/" + name + "/files?path=" + url.QueryEscape(path)
}

func TestFilesAPIRefusesWhatCouldReachTheHost(t *testing.T) {
	d := withBusybox(t)
	name := uniq("fatk")
	d.MustLodge("launch", "busybox", name)
	rootfs := filepath.Join(d.Dir, "containers", name, "rootfs")

	// A device node in the instance's tree (an image could ship one): the
	// files API must neither write nor read through it.
	if err := unix.Mknod(filepath.Join(rootfs, "root", "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if st, body := d.raw("POST", filesPath(name, "/root/null"), nil, []byte("x")); st != 400 || !strings.Contains(body, "device node") {
		t.Fatalf("push onto a device node: %d %s (want 400)", st, body)
	}
	if st, body := d.raw("GET", filesPath(name, "/root/null"), nil, nil); st != 400 {
		t.Fatalf("pull of a device node: %d %s (want 400)", st, body)
	}
	// A FIFO: the push is refused at once rather than hang until a reader comes.
	d.MustLodge("exec", name, "--", "mkfifo", "/root/fifo")
	done := make(chan int, 1)
	go func() {
		st, _ := d.raw("POST", filesPath(name, "/root/fifo"), nil, []byte("x"))
		done <- st
	}()
	select {
	case st := <-done:
		if st != 400 {
			t.Fatalf("push onto a FIFO: %d (want 400)", st)
		}
	case <-time.After(10 * time.Second):
		d.MustLodge("exec", name, "--", "cat", "/root/fifo") // unblock it
		t.Fatal("push onto a FIFO hangs")
	}
	// Ids are the instance's own: outside its map is a 400, and nothing is written.
	for _, id := range []string{"70000", "4294967295", "-5"} {
		for _, hdr := range []string{"X-LXD-uid", "X-LXD-gid"} {
			st, body := d.raw("POST", filesPath(name, "/root/owned"), map[string]string{hdr: id}, []byte("x"))
			if st != 400 {
				t.Fatalf("%s: %s: %d %s (want 400)", hdr, id, st, body)
			}
		}
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "root", "owned")); err == nil {
		t.Fatal("a refused push left its file")
	}
	if st, body := d.raw("POST", filesPath(name, "/root/owned"), map[string]string{"X-LXD-uid": "1000", "X-LXD-gid": "1000"}, []byte("x")); st != 200 {
		t.Fatalf("push with ids in the map: %d %s", st, body)
	}
	if out := d.MustLodge("exec", name, "--", "stat", "-c", "%u:%g", "/root/owned"); strings.TrimSpace(out) != "1000:1000" {
		t.Fatalf("pushed file's owner inside: %q", out)
	}
	// A NUL byte in the path is a 400, not a 500.
	if st, body := d.raw("POST", "/1.0/instances/"+name+"/files?path=/root/a%00b", nil, []byte("x")); st != 400 {
		t.Fatalf("path with a NUL byte: %d %s (want 400)", st, body)
	}
	// A symlink swapped in and out under a stream of pushes: every answer
	// is a success or a 4xx that says what was in the way, never a 5xx,
	// and nothing lands outside the instance.
	outside := t.TempDir()
	target := filepath.Join(rootfs, "root", "race")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = os.RemoveAll(target)
			if i%2 == 0 {
				_ = os.Symlink("../../../../../.."+outside, target)
			} else {
				_ = os.Symlink(outside+"/x", target)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	for i := range 200 {
		st, body := d.raw("POST", filesPath(name, fmt.Sprintf("/root/race/f%d", i%3)), nil, []byte("x"))
		if st >= 500 {
			close(stop)
			wg.Wait()
			t.Fatalf("push under a symlink race: %d %s", st, body)
		}
	}
	close(stop)
	wg.Wait()
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Fatalf("a push under a symlink race wrote outside the instance: %v", entries)
	}
}

// imageTarball builds a unified image in memory: files maps names to
// contents, links names to their targets, devices names to char majors.
func imageTarball(t *testing.T, files map[string]string, links map[string]string, devices []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	write := func(h *tar.Header, body string) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if body != "" {
			if _, err := tw.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, linked := links["rootfs"]; !linked {
		for _, dir := range []string{"rootfs/", "rootfs/bin/", "rootfs/dev/"} {
			write(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}, "")
		}
	}
	for name, body := range files {
		write(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, body)
	}
	for name, target := range links {
		write(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}, "")
	}
	for _, name := range devices {
		write(&tar.Header{Name: name, Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}, "")
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const hostileMetadata = "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  description: hostile\n"

func TestHostileImages(t *testing.T) {
	d := startDaemon(t)
	upload := func(tarball []byte) (int, string) {
		st, env := d.API("POST", "/1.0/images", tarball)
		return st, env.Error
	}
	// rootfs is a link to a host directory: refused, whether absolute or climbing.
	for _, target := range []string{"/etc", "../../../../../../etc"} {
		tb := imageTarball(t, map[string]string{"metadata.yaml": hostileMetadata}, map[string]string{"rootfs": target}, nil)
		if st, msg := upload(tb); st != 400 || !strings.Contains(msg, "symbolic link") {
			t.Fatalf("image whose rootfs links to %s: %d %q (want 400)", target, st, msg)
		}
	}
	// metadata.yaml is a link to a host file: refused, and the file is not read.
	tb := imageTarball(t, map[string]string{"rootfs/bin/sh": "x"}, map[string]string{"metadata.yaml": "/etc/os-release"}, nil)
	if st, msg := upload(tb); st != 400 || !strings.Contains(msg, "symbolic link") {
		t.Fatalf("image whose metadata.yaml is a link: %d %q (want 400)", st, msg)
	}
	for _, dir := range []string{filepath.Join(d.Dir, "images"), filepath.Join(d.Dir, "storage-pools", "default", "images")} {
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatalf("%s holds %v after refused imports", dir, left)
		}
	}
	// Device nodes in the rootfs are dropped at import; the rest is kept.
	tb = imageTarball(t, map[string]string{"metadata.yaml": hostileMetadata, "rootfs/bin/sh": "x"}, nil, []string{"rootfs/dev/null", "rootfs/bin/hostdisk"})
	if st, msg := upload(tb); st != 202 && st != 200 {
		t.Fatalf("image with device nodes: %d %q", st, msg)
	}
	var devices, kept []string
	_ = filepath.WalkDir(filepath.Join(d.Dir, "storage-pools"), func(path string, e os.DirEntry, err error) error {
		if err == nil && e.Type()&os.ModeDevice != 0 {
			devices = append(devices, path)
		}
		if err == nil && strings.HasSuffix(path, "/rootfs/bin/sh") {
			kept = append(kept, path)
		}
		return nil
	})
	if len(devices) != 0 || len(kept) != 1 {
		t.Fatalf("after import: device nodes %v, regular files %v (want none, and bin/sh)", devices, kept)
	}
}

func TestConcurrentWritesLoseNothing(t *testing.T) {
	d := withBusybox(t)
	name := uniq("conc")
	d.MustLodge("init", "busybox", name)

	// 30 PATCHes at once, each adding its own key, plus lxc config set
	// (GET, then PUT with the ETag) now and then: every PATCH lands.
	var wg sync.WaitGroup
	statuses := make([]int, 30)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"config":{"user.k%d":"v"}}`, i)
			statuses[i], _ = d.raw("PATCH", "/1.0/instances/"+name, nil, []byte(body))
			if i%10 == 0 {
				_, _, _ = d.LXC("config", "set", name, fmt.Sprintf("user.lxc%d", i), "v")
			}
		}()
	}
	wg.Wait()
	out := d.MustLodge("config", "show", name)
	for i := range 30 {
		if statuses[i] != 200 && statuses[i] != 202 {
			t.Errorf("PATCH %d answered %d", i, statuses[i])
		}
		if !strings.Contains(out, fmt.Sprintf("user.k%d:", i)) {
			t.Errorf("user.k%d was lost:\n%s", i, out)
		}
	}
	// A PATCH pinned with a stale If-Match is refused, not merged.
	if st, _ := d.raw("PATCH", "/1.0/instances/"+name, map[string]string{"If-Match": `"1"`}, []byte(`{"config":{"user.stale":"v"}}`)); st != 412 {
		t.Errorf("PATCH with a stale If-Match: %d (want 412)", st)
	}

	// 20 creates of one name at once: one is accepted, the others are
	// answered 409 before any operation, and one instance exists.
	other := uniq("same")
	statuses = make([]int, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = d.raw("POST", "/1.0/instances", nil, []byte(`{"name":"`+other+`","source":{"type":"image","alias":"busybox"}}`))
		}()
	}
	wg.Wait()
	accepted, conflicts := 0, 0
	for _, st := range statuses {
		switch st {
		case 202:
			accepted++
		case 409:
			conflicts++
		default:
			t.Errorf("create of a contested name answered %d", st)
		}
	}
	if accepted != 1 || conflicts != 19 {
		t.Fatalf("20 creates of one name: %d accepted, %d conflicts (want 1 and 19)", accepted, conflicts)
	}
	waitFor(t, "the one create", 30*time.Second, func() bool {
		st, _ := d.API("GET", "/1.0/instances/"+other, nil)
		return st == 200
	})

	// A create without a name gets one made up, as in LXD.
	st, env := d.API("POST", "/1.0/instances", map[string]any{"source": map[string]string{"type": "image", "alias": "busybox"}})
	if st != 202 && st != 200 {
		t.Fatalf("create without a name: %d %q", st, env.Error)
	}
	var names []string
	_, list := d.API("GET", "/1.0/instances", nil)
	_ = json.Unmarshal(list.Metadata, &names)
	if len(names) != 3 {
		t.Fatalf("instances after a create without a name: %v", names)
	}
}
