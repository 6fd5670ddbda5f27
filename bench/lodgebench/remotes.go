package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/lodge-project/lodge/internal/trust"
)

// The networked figures (remotes and image servers), each daemon on
// loopback:
//   - GET /1.0 over HTTPS with a kept-alive trusted client;
//   - a launch from a simplestreams server (one folder both pull from),
//     the image not cached yet;
//   - lxc image copy of the Debian image from a second host of the same
//     kind (a second LXD for LXD, a second lodged for Lodge).

type measureFunc func(figure, target string, n int, f func(d *daemon, i int) time.Duration)

func benchRemotes(measure measureFunc, reps func(int) int, lxd, lodge *daemon, lodgedBin, lodgeCLI, debian string) {
	certDir := filepath.Join(root, "https-client")
	clientCert, err := trust.ClientCert(certDir)
	if err != nil {
		fatal(err)
	}
	for i, d := range []*daemon{lxd, lodge} {
		d.mustLXC("config", "set", "core.https_address", fmt.Sprintf("127.0.0.1:%d", 18443+i))
		d.mustLXC("config", "set", "core.trust_password", "bench")
	}
	https := func(d *daemon) (*http.Client, string) {
		addr := "127.0.0.1:18443"
		if d.name == "Lodge" {
			addr = "127.0.0.1:18444"
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{clientCert}}, MaxIdleConnsPerHost: 4}
		return &http.Client{Transport: tr}, "https://" + addr
	}
	for _, d := range []*daemon{lxd, lodge} {
		c, base := https(d)
		body, _ := json.Marshal(map[string]string{"type": "client", "password": "bench"})
		resp, err := c.Post(base+"/1.0/certificates", "application/json", bytes.NewReader(body))
		if err != nil {
			fatal(err)
		}
		resp.Body.Close()
	}
	measure("GET /1.0 over HTTPS, kept-alive (median of 100)", "0.3", reps(3), func(d *daemon, _ int) time.Duration {
		c, base := https(d)
		var ts []float64
		for j := 0; j < 101; j++ {
			t0 := time.Now()
			resp, err := c.Get(base + "/1.0")
			if err != nil {
				fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if j > 0 { // the first pays the handshake
				ts = append(ts, time.Since(t0).Seconds())
			}
		}
		return time.Duration(median(ts) * float64(time.Second))
	})

	// One simplestreams folder, written by lodge image export-streams
	// from Debian variants, served over HTTPS; each daemon launches each
	// variant once, so none is cached.
	n := reps(2)
	for i := 0; i < n; i++ {
		v, err := imageVariant(debian, 100+i)
		if err != nil {
			fatal(err)
		}
		lodge.mustLXC("image", "import", v, "--public", "--alias", fmt.Sprintf("deb-ss-%d", i))
	}
	tree := filepath.Join(root, "streams")
	lodgeRun(lodgeCLI, lodge, "image", "export-streams", tree)
	for i := 0; i < n; i++ {
		lodge.mustLXC("image", "delete", fmt.Sprintf("deb-ss-%d", i))
	}
	ssAddr := serveFolder(tree, filepath.Join(root, "streams-cert"))
	crt, _ := os.ReadFile(filepath.Join(root, "streams-cert", "server.crt"))
	for _, d := range []*daemon{lxd, lodge} {
		_ = os.MkdirAll(filepath.Join(d.conf, "servercerts"), 0o700)
		if err := os.WriteFile(filepath.Join(d.conf, "servercerts", "ss.crt"), crt, 0o600); err != nil {
			fatal(err)
		}
		d.mustLXC("remote", "add", "ss", "https://"+ssAddr, "--protocol", "simplestreams")
	}
	settleDisks()
	measure("launch Debian from a simplestreams remote, not cached", "0.5", n, func(d *daemon, i int) time.Duration {
		t0 := time.Now()
		d.mustLXC("launch", fmt.Sprintf("ss:deb-ss-%d", i), fmt.Sprintf("ss%d", i))
		return time.Since(t0)
	})
	// The Debian systems launched go: the figures after them measure
	// copies, not the hosts' load of booted containers.
	for _, d := range []*daemon{lxd, lodge} {
		for i := 0; i < n; i++ {
			_, _ = d.lxc("delete", "-f", fmt.Sprintf("ss%d", i))
		}
	}

	// A second host of each kind, the source of the copies. An image
	// copy takes well under a second: a few more runs of it steady its
	// median.
	copies := reps(4)
	lxd2, lodge2 := newLXD(filepath.Join(root, "lxd2")), newLodge(filepath.Join(root, "lodge2"), lodgedBin)
	sources = append(sources, lxd2, lodge2) // a failure's cleanup stops them too
	for _, d := range []*daemon{lxd2, lodge2} {
		_ = os.MkdirAll(d.dir, 0o711)
		d.up()
		defer d.stop()
	}
	initLXD(lxd2)
	for i, src := range []*daemon{lxd2, lodge2} {
		addr := fmt.Sprintf("127.0.0.1:%d", 18453+i)
		src.mustLXC("config", "set", "core.https_address", addr)
		src.mustLXC("config", "set", "core.trust_password", "bench")
		for j := 0; j < copies; j++ {
			v, err := imageVariant(debian, 200+j)
			if err != nil {
				fatal(err)
			}
			src.mustLXC("image", "import", v, "--alias", fmt.Sprintf("deb-cp-%d", j))
		}
		dst := lxd
		if src == lodge2 {
			dst = lodge
		}
		dst.mustLXC("remote", "add", "src", "https://"+addr, "--password", "bench", "--accept-certificate")
	}
	settleDisks()
	measure("lxc image copy of Debian between two hosts", "0.5", copies, func(d *daemon, i int) time.Duration {
		t0 := time.Now()
		d.mustLXC("image", "copy", fmt.Sprintf("src:deb-cp-%d", i), "local:")
		return time.Since(t0)
	})
	benchVolumeCopy(measure, n, map[*daemon]*daemon{lxd: lxd2, lodge: lodge2}, debian)
	benchMigration(measure, n, map[*daemon]*daemon{lxd: lxd2, lodge: lodge2})
	for _, d := range []*daemon{lxd, lodge} {
		_, _ = d.lxc("config", "unset", "core.https_address")
	}
}

// benchMigration copies a stopped Debian container from the second host
// of each kind (source, remote "src") to the first, as lxc copy does
// (the target pulls): LXD to LXD, Lodge to Lodge.
func benchMigration(measure measureFunc, n int, source map[*daemon]*daemon) {
	for dst, src := range source {
		for i := 0; i < n; i++ {
			src.mustLXC("init", "deb-cp-0", fmt.Sprintf("mig%d", i))
		}
		// The image in use on the target, as on a host that runs it: the
		// copy starts from it on both (LXD unpacks it each time; Lodge
		// once, at its first use, which a copy after a mere image copy
		// pays: about 3 s more here).
		dst.mustLXC("init", "src:deb-cp-0", "primer") // copied here already: used from the cache
		dst.mustLXC("delete", "primer")
	}
	measure("lxc copy of a stopped Debian container between two hosts", "0.5", n, func(d *daemon, i int) time.Duration {
		t0 := time.Now()
		d.mustLXC("copy", fmt.Sprintf("src:mig%d", i), fmt.Sprintf("local:mig%d", i))
		return time.Since(t0)
	})
	changed := filepath.Join(root, "changed")
	measure("lxc copy --refresh of that container after one file changed", "< 1 s (absolute)", n, func(d *daemon, i int) time.Duration {
		if err := os.WriteFile(changed, []byte(fmt.Sprintf("change %d %d\n", i, time.Now().UnixNano())), 0o644); err != nil {
			fatal(err)
		}
		source[d].mustLXC("file", "push", changed, fmt.Sprintf("mig%d/root/changed", i))
		t0 := time.Now()
		d.mustLXC("copy", fmt.Sprintf("src:mig%d", i), fmt.Sprintf("local:mig%d", i), "--refresh")
		return time.Since(t0)
	})
	for d := range source {
		for i := 0; i < n; i++ {
			_, _ = d.lxc("delete", "-f", fmt.Sprintf("mig%d", i))
		}
	}
	benchMigrationBtrfs(measure, n, source)
}

// benchMigrationBtrfs is the same between btrfs pools, with a snapshot:
// each copies in its own streams (LXD's BTRFS transfer, Lodge's), and a
// refresh sends the changes since the snapshot both ends have.
func benchMigrationBtrfs(measure measureFunc, n int, source map[*daemon]*daemon) {
	for dst, src := range source {
		for _, d := range []*daemon{dst, src} {
			d.mustLXC("storage", "create", "mbt", "btrfs", "size=8GiB")
		}
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("mbt%d", i)
			src.mustLXC("init", "deb-cp-0", name, "-s", "mbt")
			src.mustLXC("snapshot", name, "s0")
		}
	}
	measure("lxc copy of a stopped Debian container with a snapshot between two hosts (btrfs pools)", "", n, func(d *daemon, i int) time.Duration {
		t0 := time.Now()
		d.mustLXC("copy", fmt.Sprintf("src:mbt%d", i), fmt.Sprintf("local:mbt%d", i), "-s", "mbt")
		return time.Since(t0)
	})
	changed := filepath.Join(root, "changed")
	measure("lxc copy --refresh of that container after one file changed (btrfs pools)", "< 1 s (absolute)", n, func(d *daemon, i int) time.Duration {
		if err := os.WriteFile(changed, []byte(fmt.Sprintf("change %d %d\n", i, time.Now().UnixNano())), 0o644); err != nil {
			fatal(err)
		}
		source[d].mustLXC("file", "push", changed, fmt.Sprintf("mbt%d/root/changed", i))
		t0 := time.Now()
		d.mustLXC("copy", fmt.Sprintf("src:mbt%d", i), fmt.Sprintf("local:mbt%d", i), "--refresh")
		return time.Since(t0)
	})
	for dst, src := range source {
		for _, d := range []*daemon{dst, src} {
			for i := 0; i < n; i++ {
				_, _ = d.lxc("delete", "-f", fmt.Sprintf("mbt%d", i))
			}
			_, _ = d.lxc("storage", "delete", "mbt")
		}
	}
}

// serveFolder serves dir over HTTPS on a loopback port, with a
// certificate made in certDir; it returns the address.
func serveFolder(dir, certDir string) string {
	_ = os.MkdirAll(certDir, 0o700)
	cert, err := trust.ServerCert(certDir)
	if err != nil {
		fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go func() { _ = srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
	return ln.Addr().String()
}
