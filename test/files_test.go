package test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFiles(t *testing.T) {
	d := withBusybox(t)
	name := uniq("files")
	d.MustLodge("launch", "busybox", name)
	local := t.TempDir()
	src := filepath.Join(local, "hello.txt")
	if err := os.WriteFile(src, []byte("hello\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	d.MustLodge("file", "push", src, name+"/root/hello.txt", "--uid", "1000", "--gid", "1000")
	if out := d.MustLodge("exec", name, "--", "ls", "-ln", "/root/hello.txt"); !strings.Contains(out, "-rw-r-----") || !strings.Contains(out, " 1000 ") {
		t.Fatalf("pushed file inside: %q", out)
	}
	if out := d.MustLodge("file", "pull", name+"/root/hello.txt", "-"); out != "hello\n" {
		t.Fatalf("pull to stdout: %q", out)
	}
	// Recursive, with parents made.
	tree := filepath.Join(local, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "deep.txt"), []byte("deep\n"), 0o644)
	os.Symlink("sub/deep.txt", filepath.Join(tree, "link"))
	d.MustLodge("file", "push", "-r", "-p", tree, name+"/opt/new/")
	if out := d.MustLodge("exec", name, "--", "cat", "/opt/new/tree/link"); out != "deep\n" {
		t.Fatalf("pushed tree: %q", out)
	}
	back := filepath.Join(local, "back")
	d.MustLodge("file", "pull", "-r", "-p", name+"/opt/new/tree", back)
	if data, err := os.ReadFile(filepath.Join(back, "tree", "sub", "deep.txt")); err != nil || string(data) != "deep\n" {
		t.Fatalf("pulled tree: %q %v", data, err)
	}
	d.MustLodge("file", "delete", name+"/root/hello.txt")
	if _, _, err := d.Lodge("exec", name, "--", "test", "-e", "/root/hello.txt"); err == nil {
		t.Fatal("deleted file still there")
	}

	// Links cannot lead outside: a relative link that climbs above / is
	// refused, an absolute link resolves inside the instance.
	hostFile := filepath.Join(d.Dir, "host-secret")
	os.WriteFile(hostFile, []byte("host\n"), 0o600)
	d.MustLodge("exec", name, "--", "ln", "-s", "../../../../../../../.."+d.Dir, "/root/climb")
	d.MustLodge("exec", name, "--", "ln", "-s", d.Dir, "/root/abs")
	if _, stderr, err := d.LodgeIn("", "file", "push", src, name+"/root/climb/host-secret"); err == nil || !strings.Contains(stderr, "outside") {
		t.Fatalf("push through a climbing link: %v %q", err, stderr)
	}
	if _, _, err := d.Lodge("file", "pull", name+"/root/climb/host-secret", "-"); err == nil {
		t.Fatal("pull through a climbing link succeeded")
	}
	if _, _, err := d.Lodge("file", "pull", name+"/../../../../"+hostFile, "-"); err == nil {
		t.Fatal("pull with .. above the root succeeded")
	}
	// The absolute link points at a path that exists only on the host: inside
	// the instance it does not exist, so the push fails and the host file stays.
	_, _, _ = d.Lodge("file", "push", src, name+"/root/abs/host-secret")
	if data, _ := os.ReadFile(hostFile); string(data) != "host\n" {
		t.Fatalf("the host file was written through a link: %q", data)
	}
	// A link planted where a directory is pushed does not redirect chmod.
	d.MustLodge("exec", name, "--", "ln", "-s", "/etc", "/root/planted")
	if _, _, err := d.Lodge("file", "push", "-r", tree, name+"/root/planted"); err == nil {
		t.Log("push onto a planted link went through the link inside the instance")
	}
	if fi, _ := os.Stat("/etc"); fi.Mode().Perm() != 0o755 {
		t.Fatalf("host /etc mode changed to %v", fi.Mode())
	}

	// Files work on a stopped instance too.
	d.MustLodge("stop", "-f", name)
	d.MustLodge("file", "push", src, name+"/root/offline.txt")
	if out := d.MustLodge("file", "pull", name+"/root/offline.txt", "-"); out != "hello\n" {
		t.Fatalf("stopped instance: %q", out)
	}
}

func TestFilesLXC(t *testing.T) {
	d := withBusybox(t)
	name := uniq("lxcf")
	d.MustLXC("launch", "busybox", name)
	local := t.TempDir()
	os.MkdirAll(filepath.Join(local, "dir", "a"), 0o755)
	os.WriteFile(filepath.Join(local, "dir", "a", "f.txt"), []byte("lxc\n"), 0o644)
	d.MustLXC("file", "push", "-r", "-p", filepath.Join(local, "dir"), name+"/srv/")
	if out := d.MustLodge("exec", name, "--", "cat", "/srv/dir/a/f.txt"); out != "lxc\n" {
		t.Fatalf("lxc file push -r: %q", out)
	}
	out := filepath.Join(local, "out")
	os.MkdirAll(out, 0o755)
	d.MustLXC("file", "pull", "-r", name+"/srv/dir", out)
	if data, err := os.ReadFile(filepath.Join(out, "dir", "a", "f.txt")); err != nil || string(data) != "lxc\n" {
		t.Fatalf("lxc file pull -r: %q %v", data, err)
	}
	d.MustLXC("file", "push", filepath.Join(local, "dir", "a", "f.txt"), name+"/root/single.txt")
	pulled := filepath.Join(local, "single.txt")
	d.MustLXC("file", "pull", name+"/root/single.txt", pulled)
	if data, _ := os.ReadFile(pulled); string(data) != "lxc\n" {
		t.Fatalf("lxc file pull: %q", data)
	}
	// A symlink comes as itself (file_get_symlink): lxc makes a link of
	// it, or follows it to stdout; lodge does the same.
	d.MustLXC("exec", name, "--", "ln", "-s", "single.txt", "/root/link")
	link := filepath.Join(local, "link")
	d.MustLXC("file", "pull", name+"/root/link", link)
	if to, err := os.Readlink(link); err != nil || to != "single.txt" {
		t.Fatalf("lxc file pull of a symlink: %q %v", to, err)
	}
	if out := d.MustLXC("file", "pull", name+"/root/link", "-"); out != "lxc\n" {
		t.Fatalf("lxc file pull of a symlink to stdout: %q", out)
	}
	if out := d.MustLodge("file", "pull", name+"/root/link", "-"); out != "lxc\n" {
		t.Fatalf("lodge file pull of a symlink to stdout: %q", out)
	}
	// HEAD (instance_file_head): the file's headers, no body.
	req, _ := http.NewRequest("HEAD", "http://lodge/1.0/instances/"+name+"/files?path=/root/single.txt", nil)
	resp, err := d.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-LXD-type") != "file" || resp.Header.Get("X-LXD-mode") != "0644" || len(body) != 0 {
		t.Fatalf("HEAD of a file: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	d.MustLXC("file", "delete", name+"/root/single.txt")
}
