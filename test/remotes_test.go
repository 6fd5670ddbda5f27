package test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

// host is a lodged in a network namespace of its own, serving HTTPS on
// its address there.
type host struct {
	*Daemon
	addr string // host:port of its HTTPS listener
}

// twoHosts starts two lodged in two network namespaces joined by a veth
// (198.18.0.1 and 198.18.0.2), each serving the API over HTTPS with the
// trust password "sesame".
func twoHosts(t *testing.T) (a, b host) {
	t.Helper()
	nsA, nsB := newNetns(t, "ha"), newNetns(t, "hb")
	linkNetns(t, nsA, nsB, "198.18.0.1/24", "198.18.0.2/24")
	start := func(ns, ip string) host {
		d := startDaemonWith(t, &Daemon{t: t, Netns: ns})
		h := host{Daemon: d, addr: ip + ":8443"}
		d.MustLXC("config", "set", "core.https_address", h.addr)
		d.MustLXC("config", "set", "core.trust_password", "sesame")
		return h
	}
	return start(nsA, "198.18.0.1"), start(nsB, "198.18.0.2")
}

// client runs lxc in the host's namespace with a config of its own,
// where "local" is the host's unix socket and remotes are reached over
// the namespaces' network.
func (h host) client(t *testing.T) func(args ...string) (string, string, error) {
	conf := filepath.Join(t.TempDir(), "lxc")
	env := []string{"LXD_DIR=" + h.Dir, "LXD_CONF=" + conf}
	return func(args ...string) (string, string, error) {
		return run(env, "", "nsenter", append([]string{"--net=/run/netns/" + h.Netns, "lxc"}, args...)...)
	}
}

func must(t *testing.T, lxc func(...string) (string, string, error), args ...string) string {
	t.Helper()
	out, stderr, err := lxc(args...)
	if err != nil {
		t.Fatalf("lxc %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// untrustedGet asks a host as an HTTPS client with no certificate, from
// inside the host's namespace.
func untrustedGet(t *testing.T, h host, path string) (int, api.Response) {
	t.Helper()
	return untrustedDo(t, h, "GET", path, nil, nil)
}

// untrustedDo sends a request as untrustedGet does, with a body and
// headers of its own.
func untrustedDo(t *testing.T, h host, method, path string, body io.Reader, header http.Header) (int, api.Response) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: dialIn(h.Netns), TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, err := http.NewRequest(method, "https://"+h.addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var env api.Response
	_ = json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env
}

// TestImagesAcrossHosts drives two Lodge hosts with lxc 5.0.2: a private
// image copied to the other host with its secret, launched there, an
// instance published there and launched back here from the cache; what
// an untrusted client sees of public and private images.
func TestImagesAcrossHosts(t *testing.T) {
	a, b := twoHosts(t)
	a.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	lxc := a.client(t)
	must(t, lxc, "remote", "add", "b", "https://"+b.addr, "--password", "sesame", "--accept-certificate")

	// Relay mode: lxc downloads from one and uploads to the other itself.
	must(t, lxc, "image", "copy", "local:bb", "b:", "--mode", "relay", "--alias", "relayed")
	must(t, lxc, "image", "delete", "b:relayed")
	// A private image: the target downloads it with a secret.
	must(t, lxc, "image", "copy", "local:bb", "b:", "--alias", "copied", "--copy-aliases")
	_, env := a.API("GET", "/1.0/images/aliases/bb", nil)
	var alias api.ImageAliasesEntry
	_ = json.Unmarshal(env.Metadata, &alias)
	fp := alias.Target
	out := must(t, lxc, "image", "list", "b:", "--format", "csv", "-c", "LFp")
	if !strings.Contains(out, "copied") || !strings.Contains(out, "bb") || !strings.Contains(out, fp+",no") {
		t.Fatalf("b's images after the copy: %q (want %s, private)", out, fp)
	}
	if st, _ := untrustedGet(t, a, "/1.0/images/"+fp); st != 404 {
		t.Fatalf("an untrusted client sees a private image: %d", st)
	}
	if st, _ := untrustedGet(t, a, "/1.0/images/"+fp+"/export?secret=guess"); st != 404 {
		t.Fatalf("a guessed secret downloads a private image: %d", st)
	}
	if st, env := untrustedGet(t, a, "/1.0/images"); st != 200 || string(env.Metadata) != "[]" {
		t.Fatalf("an untrusted client's image list: %d %s", st, env.Metadata)
	}
	if st, _ := untrustedGet(t, a, "/1.0/images/aliases/bb"); st != 404 {
		t.Fatalf("an untrusted client sees the alias of a private image: %d", st)
	}
	// Public, it is there for all.
	if out, stderr, err := a.LXC("query", "-X", "PATCH", "/1.0/images/"+fp, "-d", `{"public": true}`); err != nil {
		t.Fatalf("make the image public: %v %s %s", err, out, stderr)
	}
	if st, env := untrustedGet(t, a, "/1.0/images/aliases/bb"); st != 200 || !strings.Contains(string(env.Metadata), fp) {
		t.Fatalf("an untrusted client and a public image's alias: %d %s", st, env.Metadata)
	}

	// Launched on b from a (b has it: no second download), then
	// changed, published there and launched back here.
	must(t, lxc, "launch", "local:bb", "b:c1")
	must(t, lxc, "exec", "b:c1", "--", "sh", "-c", "echo published > /marker")
	must(t, lxc, "stop", "b:c1", "--force")
	must(t, lxc, "snapshot", "b:c1", "snap0")
	must(t, lxc, "publish", "b:c1/snap0", "b:", "--alias", "fromsnap", "from=snapshot")
	must(t, lxc, "publish", "b:c1", "b:", "--alias", "pub", "--public")
	must(t, lxc, "launch", "b:fromsnap", "local:c0")
	if out := must(t, lxc, "exec", "local:c0", "--", "cat", "/marker"); strings.TrimSpace(out) != "published" {
		t.Fatalf("the snapshot's file, published and launched here: %q", out)
	}
	must(t, lxc, "delete", "--force", "local:c0")
	var fromSnap []api.Image
	_, env = a.API("GET", "/1.0/images?recursion=1", nil)
	_ = json.Unmarshal(env.Metadata, &fromSnap)
	for _, img := range fromSnap {
		if img.Cached {
			if img.Properties["from"] != "snapshot" {
				t.Fatalf("the image published from a snapshot lacks its property: %+v", img.Properties)
			}
			a.MustLodge("image", "delete", img.Fingerprint)
		}
	}
	must(t, lxc, "launch", "b:pub", "local:c2")
	if out := must(t, lxc, "exec", "local:c2", "--", "cat", "/marker"); strings.TrimSpace(out) != "published" {
		t.Fatalf("the published file, launched here: %q", out)
	}
	var imgs []api.Image
	_, env = a.API("GET", "/1.0/images?recursion=1", nil)
	_ = json.Unmarshal(env.Metadata, &imgs)
	cached := 0
	var cachedFP string
	for _, img := range imgs {
		if img.Cached {
			cached++
			cachedFP = img.Fingerprint
			if img.UpdateSource == nil || img.UpdateSource.Server != "https://"+b.addr || img.UpdateSource.Alias != "pub" {
				t.Fatalf("the cached image's source: %+v", img.UpdateSource)
			}
		}
	}
	if cached != 1 {
		t.Fatalf("a's images after launching b:pub: %+v", imgs)
	}
	// Refreshing it: nothing new on b; then b publishes anew as pub.
	if out := must(t, lxc, "image", "refresh", "local:"+cachedFP[:12]); !strings.Contains(out, "already up to date") {
		t.Fatalf("lxc image refresh: %q", out)
	}
	must(t, lxc, "start", "b:c1")
	must(t, lxc, "exec", "b:c1", "--", "sh", "-c", "echo second > /marker")
	must(t, lxc, "stop", "b:c1", "--force")
	must(t, lxc, "image", "alias", "delete", "b:pub")
	must(t, lxc, "publish", "b:c1", "b:", "--alias", "pub", "--public", "--compression", "zstd")
	if out := must(t, lxc, "image", "refresh", "local:"+cachedFP[:12]); !strings.Contains(out, "refreshed successfully") {
		t.Fatalf("lxc image refresh after b published anew: %q", out)
	}
	must(t, lxc, "launch", "b:pub", "local:c3")
	if out := must(t, lxc, "exec", "local:c3", "--", "cat", "/marker"); strings.TrimSpace(out) != "second" {
		t.Fatalf("launched after the refresh: %q", out)
	}
	_, env = a.API("GET", "/1.0/images?recursion=1", nil)
	imgs = nil
	_ = json.Unmarshal(env.Metadata, &imgs)
	for _, img := range imgs {
		if img.Fingerprint == cachedFP {
			t.Fatalf("the image refreshed away is still here: %+v", imgs)
		}
	}
	if len(imgs) != 2 {
		t.Fatalf("a's images after the refresh: %+v", imgs)
	}
}

// lodgeClient runs lodge in the host's namespace with a config directory
// of its own (LODGE_CONF), "local" being the host's socket.
func (h host) lodgeClient(t *testing.T) (func(args ...string) (string, string, error), string) {
	conf := filepath.Join(t.TempDir(), "lodge")
	env := []string{"LODGE_DIR=" + h.Dir, "LODGE_CONF=" + conf}
	return func(args ...string) (string, string, error) {
		return run(env, "", "nsenter", append([]string{"--net=/run/netns/" + h.Netns, lodgeBin}, args...)...)
	}, conf
}

// TestRemotesWithLodge drives two hosts with lodge: remotes added by
// password and by token (and refused: a wrong password, a reused token,
// an unaccepted certificate, one that changed, an unreachable address),
// remote: names on instances and images, copy, launch, publish, export,
// rename, switch.
func TestRemotesWithLodge(t *testing.T) {
	a, b := twoHosts(t)
	a.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	lodge, conf := a.lodgeClient(t)
	fail := func(want string, args ...string) {
		t.Helper()
		out, stderr, err := lodge(args...)
		if err == nil || !strings.Contains(stderr, want) {
			t.Fatalf("lodge %s: want an error with %q, got %v\n%s%s", strings.Join(args, " "), want, err, out, stderr)
		}
	}
	fail("--accept-certificate", "remote", "add", "b", b.addr, "--password", "sesame")
	fail("refused to trust", "remote", "add", "b", b.addr, "--password", "wrong", "--accept-certificate")
	fail("cannot reach", "remote", "add", "nowhere", "198.18.0.2:9", "--accept-certificate")
	if out := must(t, lodge, "remote", "list", "--format", "csv"); strings.Contains(out, "b,") {
		t.Fatalf("a refused remote was kept: %q", out)
	}
	must(t, lodge, "remote", "add", "b", "198.18.0.2", "--password", "sesame", "--accept-certificate")
	if out := must(t, lodge, "remote", "list", "--format", "csv"); !strings.Contains(out, "b,https://"+b.addr+",lxd,tls,NO") {
		t.Fatalf("lodge remote list: %q", out)
	}

	// remote: names.
	must(t, lodge, "launch", "local:bb", "b:c1")
	if out := must(t, lodge, "exec", "b:c1", "--", "echo", "over https"); strings.TrimSpace(out) != "over https" {
		t.Fatalf("lodge exec b:c1: %q", out)
	}
	if out := must(t, lodge, "list", "b:", "--format", "csv"); !strings.Contains(out, "c1,RUNNING") {
		t.Fatalf("lodge list b: %q", out)
	}
	if out := must(t, lodge, "list", "--format", "csv"); strings.Contains(out, "c1") {
		t.Fatalf("lodge list (local) shows b's instance: %q", out)
	}
	must(t, lodge, "config", "set", "b:c1", "user.where=b")
	if out := must(t, lodge, "config", "get", "b:c1", "user.where"); strings.TrimSpace(out) != "b" {
		t.Fatalf("lodge config get b:c1: %q", out)
	}
	// The copy's own profiles (image_copy_profile), which b must have.
	must(t, lodge, "profile", "create", "b:p2")
	if _, stderr, err := lodge("image", "copy", "local:bb", "b:", "--profile", "nosuch"); err == nil || !strings.Contains(stderr, `profile "nosuch"`) {
		t.Fatalf("a copy naming a profile b lacks: %v %q", err, stderr)
	}
	must(t, lodge, "image", "copy", "local:bb", "b:", "--alias", "fromA", "--profile", "p2")
	if out := must(t, lodge, "image", "show", "b:fromA"); !strings.Contains(out, "- p2") {
		t.Fatalf("lodge image copy --profile p2: %q", out)
	}
	if out := must(t, lodge, "image", "info", "b:fromA"); !strings.Contains(out, "Public: no") {
		t.Fatalf("lodge image info b:fromA: %q", out)
	}
	must(t, lodge, "image", "set-property", "b:fromA", "description", "copied from a")
	if out := must(t, lodge, "image", "get-property", "b:fromA", "description"); strings.TrimSpace(out) != "copied from a" {
		t.Fatalf("lodge image get-property: %q", out)
	}
	must(t, lodge, "exec", "b:c1", "--", "sh", "-c", "echo from-b > /marker")
	must(t, lodge, "publish", "b:c1", "--alias", "pub", "--force", "version=2")
	must(t, lodge, "launch", "b:pub", "c2")
	if out := must(t, lodge, "exec", "c2", "--", "cat", "/marker"); strings.TrimSpace(out) != "from-b" {
		t.Fatalf("the published file, launched here: %q", out)
	}
	export := t.TempDir()
	if out := must(t, lodge, "image", "export", "b:pub", export); !strings.Contains(out, export) {
		t.Fatalf("lodge image export: %q", out)
	}

	// Server config by remote, and a token for a second client.
	must(t, lodge, "config", "set", "b:", "images.remote_cache_expiry", "3")
	if out := must(t, lodge, "config", "get", "b:", "images.remote_cache_expiry"); strings.TrimSpace(out) != "3" {
		t.Fatalf("lodge config get b: images.remote_cache_expiry: %q", out)
	}
	out := must(t, lodge, "config", "trust", "add", "b:", "--name", "second")
	token := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	second, _ := a.lodgeClient(t)
	must(t, second, "remote", "add", "b", token)
	must(t, second, "list", "b:")
	third, _ := a.lodgeClient(t)
	fail3 := func(want string, args ...string) {
		t.Helper()
		if _, stderr, err := third(args...); err == nil || !strings.Contains(stderr, want) {
			t.Fatalf("lodge %v: want %q, got %v %s", args, want, err, stderr)
		}
	}
	fail3("refused to trust", "remote", "add", "b", token)

	// A certificate that changed is refused, and said so.
	certs := filepath.Join(conf, "servercerts")
	aCert, err := exec.Command("cat", filepath.Join(a.Dir, "server.crt")).Output()
	if err != nil {
		t.Fatal(err)
	}
	must(t, lodge, "remote", "rename", "b", "bee")
	if err := exec.Command("cp", filepath.Join(certs, "bee.crt"), filepath.Join(certs, "bee.orig")).Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "bee.crt"), aCert, 0o600); err != nil {
		t.Fatal(err)
	}
	fail("certificate changed", "list", "bee:")
	if err := exec.Command("mv", filepath.Join(certs, "bee.orig"), filepath.Join(certs, "bee.crt")).Run(); err != nil {
		t.Fatal(err)
	}
	must(t, lodge, "remote", "switch", "bee")
	if out := must(t, lodge, "list", "--format", "csv"); !strings.Contains(out, "c1,") {
		t.Fatalf("lodge list with bee the default: %q", out)
	}
	if out := must(t, lodge, "remote", "get-default"); strings.TrimSpace(out) != "bee" {
		t.Fatalf("lodge remote get-default: %q", out)
	}
	fail("is the default", "remote", "remove", "bee")
	must(t, lodge, "remote", "switch", "local")
	must(t, lodge, "remote", "remove", "bee")
	fail("does not exist", "list", "bee:")
}
