package test

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/trust"
)

// splitImages turns the busybox image into its split forms: metadata
// tarball + squashfs rootfs, and metadata tarball + root.tar.xz.
func splitImages(t *testing.T) (meta, squash, tarxz string) {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	steps := [][]string{
		{"tar", "-C", tree, "-xzf", busyboxImage(t)},
		{"tar", "-C", tree, "-cJf", filepath.Join(dir, "meta.tar.xz"), "metadata.yaml"},
		{"mksquashfs", filepath.Join(tree, "rootfs"), filepath.Join(dir, "rootfs.squashfs"), "-noappend", "-quiet"},
		{"tar", "-C", filepath.Join(tree, "rootfs"), "--numeric-owner", "-cJf", filepath.Join(dir, "root.tar.xz"), "."},
	}
	for _, s := range steps {
		if _, stderr, err := run(nil, "", s[0], s[1:]...); err != nil {
			t.Fatalf("%v: %v %s", s, err, stderr)
		}
	}
	return filepath.Join(dir, "meta.tar.xz"), filepath.Join(dir, "rootfs.squashfs"), filepath.Join(dir, "root.tar.xz")
}

// serveTreeIn serves a folder over HTTPS inside a namespace, with the
// certificate and key of a lodged (which name its addresses there).
func serveTreeIn(t *testing.T, ns, addr, dir string, h host) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(h.Dir, "server.crt"), filepath.Join(h.Dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(listenerIn(t, ns, addr), &tls.Config{Certificates: []tls.Certificate{cert}})
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
}

// TestSimplestreams serves a's public images as a simplestreams tree,
// from lodged and from a folder lodge image export-streams wrote, and
// launches them on b with lodge and lxc 5.0.2: unified and split images
// (squashfs and root.tar.xz), aliases by architecture, one download for
// two launches at once; a tree with a wrong hash or a missing file fails
// clearly and leaves nothing.
func TestSimplestreams(t *testing.T) {
	a, b := twoHosts(t)
	meta, squash, tarxz := splitImages(t)
	a.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox", "--public")
	a.MustLodge("image", "import", meta, squash, "--alias", "bb-squash", "--public")
	a.MustLodge("image", "import", meta, tarxz, "--alias", "bb-tarxz", "--public")
	// A private image stays out of the tree.
	if st, env := a.API("POST", "/1.0/images", imageTarball(t, map[string]string{"metadata.yaml": hostileMetadata, "rootfs/bin/sh": "x"}, nil, nil)); st != 202 {
		t.Fatalf("import a private image: %d %s", st, env.Error)
	}
	lodgeB, _ := b.lodgeClient(t)
	must(t, lodgeB, "remote", "add", "lodge-a", "https://"+a.addr, "--protocol", "simplestreams", "--accept-certificate")
	out := must(t, lodgeB, "image", "list", "lodge-a:", "--format", "csv")
	for _, alias := range []string{"busybox", "bb-squash", "bb-tarxz/amd64"} {
		if !strings.Contains(out, alias) {
			t.Fatalf("lodge image list lodge-a: lacks %s: %q", alias, out)
		}
	}
	if strings.Count(out, ",x86_64,") != 3 {
		t.Fatalf("lodge image list lodge-a: wants the three public images: %q", out)
	}

	if out := must(t, lodgeB, "image", "info", "lodge-a:bb-squash"); !strings.Contains(out, "type: squashfs") || !strings.Contains(out, "Fingerprint: ") {
		t.Fatalf("lodge image info of an image server's image: %q", out)
	}
	// Two launches at once of one image: one download.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, name := range []string{"t1", "t2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, stderr, err := lodgeB("launch", "lodge-a:bb-tarxz", name)
			if err != nil {
				errs[i] = &launchError{name, stderr}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	logA, _ := os.ReadFile(filepath.Join(a.Dir, "lodged.log"))
	if n := strings.Count(string(logA), "/root.tar.xz"); n != 1 {
		t.Fatalf("two launches downloaded root.tar.xz %d times", n)
	}
	// Debian too, with the download's progress shown as it goes.
	a.MustLodge("image", "import", debianImage(t), "--alias", "debian-12", "--public")
	if out := must(t, lodgeB, "launch", "lodge-a:debian-12", "deb1"); !strings.Contains(out, "Retrieving image:") {
		t.Logf("no progress shown while launching Debian (a fast download): %q", out)
	}
	if out := must(t, lodgeB, "exec", "deb1", "--", "cat", "/etc/debian_version"); !strings.HasPrefix(strings.TrimSpace(out), "12") {
		t.Fatalf("Debian from simplestreams: %q", out)
	}
	must(t, lodgeB, "delete", "--force", "deb1")
	must(t, lodgeB, "launch", "lodge-a:bb-squash/amd64", "s1")
	must(t, lodgeB, "launch", "lodge-a:busybox", "u1")
	for _, name := range []string{"t1", "s1", "u1"} {
		if out := must(t, lodgeB, "exec", name, "--", "echo", "up"); strings.TrimSpace(out) != "up" {
			t.Fatalf("exec in %s: %q", name, out)
		}
	}

	// The same tree from a folder, served by a plain web server, read by
	// lxc 5.0.2 (given a's certificate as the mirror's).
	tree := t.TempDir()
	if out := a.MustLodge("image", "export-streams", tree); !strings.Contains(out, "4 images") {
		t.Fatalf("lodge image export-streams: %q", out)
	}
	serveTreeIn(t, a.Netns, "198.18.0.1:8444", tree, a)
	conf := filepath.Join(t.TempDir(), "lxc")
	lxcB := func(args ...string) (string, string, error) {
		return run([]string{"LXD_DIR=" + b.Dir, "LXD_CONF=" + conf}, "", "nsenter", append([]string{"--net=/run/netns/" + b.Netns, "lxc"}, args...)...)
	}
	if err := os.MkdirAll(filepath.Join(conf, "servercerts"), 0o700); err != nil {
		t.Fatal(err)
	}
	crt, _ := os.ReadFile(filepath.Join(a.Dir, "server.crt"))
	if err := os.WriteFile(filepath.Join(conf, "servercerts", "mirror.crt"), crt, 0o600); err != nil {
		t.Fatal(err)
	}
	must(t, lxcB, "remote", "add", "mirror", "https://198.18.0.1:8444", "--protocol", "simplestreams")
	if out := must(t, lxcB, "image", "list", "mirror:", "--format", "csv"); !strings.Contains(out, "bb-squash") {
		t.Fatalf("lxc image list mirror: %q", out)
	}
	// b drops what it cached, so the launch downloads from the folder.
	must(t, lodgeB, "delete", "--force", "t1", "t2", "s1", "u1")
	var cached []api.Image
	_, env := b.API("GET", "/1.0/images?recursion=1", nil)
	_ = json.Unmarshal(env.Metadata, &cached)
	for _, img := range cached {
		must(t, lodgeB, "image", "delete", img.Fingerprint)
	}
	must(t, lxcB, "launch", "mirror:bb-squash", "m1")
	if out := must(t, lxcB, "exec", "m1", "--", "echo", "mirrored"); strings.TrimSpace(out) != "mirrored" {
		t.Fatalf("lxc exec m1: %q", out)
	}

	// A tree that lies: a file changed after the index was written, and
	// one missing. The launch fails, saying which, and leaves no image.
	imagesBefore := must(t, lodgeB, "image", "list", "--format", "csv")
	must(t, lodgeB, "remote", "add", "mirror", "https://198.18.0.1:8444", "--protocol", "simplestreams", "--accept-certificate")
	files, _ := filepath.Glob(filepath.Join(tree, "images", "*", "root.tar.xz"))
	if len(files) != 1 {
		t.Fatalf("the tree's root.tar.xz: %v", files)
	}
	if err := os.WriteFile(files[0], []byte("not the rootfs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := lodgeB("launch", "mirror:bb-tarxz", "bad1"); err == nil || !strings.Contains(stderr, "root.tar.xz") {
		t.Fatalf("a launch from a changed file: %v %s", err, stderr)
	}
	bb, _ := os.ReadFile(busyboxImage(t))
	bbSum := sha256.Sum256(bb)
	if err := os.Remove(filepath.Join(tree, "images", hex.EncodeToString(bbSum[:]), "lxd_combined.tar.gz")); err != nil {
		t.Fatalf("the tree's busybox image: %v", err)
	}
	if _, stderr, err := lodgeB("launch", "mirror:busybox", "bad2"); err == nil || !strings.Contains(stderr, "missing") {
		t.Fatalf("a launch from a missing file: %v %s", err, stderr)
	}
	if after := must(t, lodgeB, "image", "list", "--format", "csv"); after != imagesBefore {
		t.Fatalf("failed downloads left images:\nbefore %q\nafter %q", imagesBefore, after)
	}
	if left, _ := filepath.Glob(filepath.Join(b.Dir, "images", ".upload-*")); len(left) != 0 {
		t.Fatalf("failed downloads left files: %v", left)
	}
}

type launchError struct{ name, stderr string }

func (e *launchError) Error() string { return "launch " + e.name + ": " + e.stderr }

const pylxdImagesScript = `
import sys
from pylxd import Client
a = Client(endpoint="https://198.18.0.1:8443", cert=(sys.argv[1], sys.argv[2]), verify=sys.argv[3])
a.authenticate("sesame")
b = Client()
img = a.images.get_by_alias("busybox")
img.copy(b, wait=True)
print("copied", b.images.get(img.fingerprint).fingerprint[:12])
pulled = b.images.create_from_simplestreams("https://198.18.0.1:8443", "bb-squash")
print("pulled", pulled.fingerprint[:12], pulled.properties.get("type", ""))
`

// TestPylxdImagesAcrossHosts: Debian's pylxd copies a public image from a
// to b over the LXD protocol, and pulls one from a's simplestreams tree.
// pylxd sends no server certificate with either: b trusts a's through
// its trust store (SSL_CERT_FILE), as a host with a private CA would.
func TestPylxdImagesAcrossHosts(t *testing.T) {
	a, b := twoHosts(t)
	meta, squash, _ := splitImages(t)
	a.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox", "--public")
	a.MustLodge("image", "import", meta, squash, "--alias", "bb-squash", "--public")
	b.Stop()
	b.Env = append(b.Env, "SSL_CERT_FILE="+filepath.Join(a.Dir, "server.crt"))
	b.Start()
	clientDir := t.TempDir()
	if _, err := trust.ServerCert(clientDir); err != nil { // any certificate will do as the client's
		t.Fatal(err)
	}
	script := filepath.Join(clientDir, "images.py")
	if err := os.WriteFile(script, []byte(pylxdImagesScript), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"LXD_DIR=" + b.Dir, "REQUESTS_CA_BUNDLE=", "CURL_CA_BUNDLE="}
	out, stderr, err := run(env, "", "nsenter", "--net=/run/netns/"+b.Netns, "/usr/bin/python3", script,
		filepath.Join(clientDir, "server.crt"), filepath.Join(clientDir, "server.key"), filepath.Join(a.Dir, "server.crt"))
	if err != nil || strings.Contains(stderr, "Traceback") {
		t.Fatalf("pylxd: %v\n%s\n%s", err, out, stderr)
	}
	if !strings.Contains(out, "copied ") || !strings.Contains(out, "pulled ") || !strings.Contains(out, " squashfs") {
		t.Fatalf("pylxd output: %q", out)
	}
}
