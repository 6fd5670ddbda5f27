// lodgebench measures Lodge and LXD side by side on one machine, driving
// both with Debian's lxc client (and raw GETs over their sockets), the
// daemons measured alternately, medians reported. Run it with make bench.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lodge-project/lodge/internal/instance/runtime/container"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "lodgebench:", err)
	cleanup()
	os.Exit(1)
}

var (
	root     string
	daemons  []*daemon
	lxcfsCmd *exec.Cmd
)

// sources are the second hosts of the networked figures, the sources of
// their copies: not measured, but stopped with the others.
var sources []*daemon

func cleanup() {
	for _, d := range append(append([]*daemon{}, daemons...), sources...) {
		if d.cmd == nil {
			continue
		}
		_, _ = d.lxc("stop", "--all", "--force")
		d.stop()
		if d.name == "Lodge" {
			_ = exec.Command("pkill", "-9", "-f", "console-keeper "+d.dir).Run()
		}
	}
	// Lodge's layered volumes stay mounted after it stops.
	_ = storagetest.UnmountBelow(root)
	if lxcfsCmd != nil {
		_ = lxcfsCmd.Process.Kill()
		_ = exec.Command("umount", "-l", "/var/lib/lxcfs").Run()
	}
}

func main() {
	lodged := flag.String("lodged", "bin/lodged", "lodged binary")
	busybox := flag.String("busybox", "", "busybox image")
	debian := flag.String("debian", "", "Debian image")
	out := flag.String("out", "bench/RESULTS.md", "where to write the results")
	quick := flag.Bool("quick", false, "fewer repetitions and no 1,000-instance figures")
	flag.StringVar(&root, "root", "/tmp/lodgebench", "scratch directory for both daemons (its filesystem is the pools')")
	label := flag.String("label", "", "what the scratch filesystem is, for the report")
	appendOut := flag.Bool("append", false, "append to -out instead of replacing it")
	onlyRemotes := flag.Bool("only-remotes", false, "measure the networked figures only (remotes and image servers)")
	flag.Parse()
	abs, _ := filepath.Abs(*lodged)

	_ = storagetest.UnmountBelow(root)
	_ = os.RemoveAll(root)
	for _, sub := range []string{"lxd", "lodge"} {
		_ = os.MkdirAll(filepath.Join(root, sub), 0o711)
		_ = os.Chmod(filepath.Join(root, sub), 0o711)
	}
	startLXCFS()
	lxd, lodge := newLXD(filepath.Join(root, "lxd")), newLodge(filepath.Join(root, "lodge"), abs)
	daemons = []*daemon{lxd, lodge}
	defer cleanup()
	for _, d := range daemons {
		d.up()
	}
	initLXD(lxd)
	r := newReport()
	reps := func(n int) int {
		if *quick {
			return max(1, n/2)
		}
		return n
	}
	loadAvg := func() string {
		data, _ := os.ReadFile("/proc/loadavg")
		return strings.Join(strings.Fields(string(data))[:3], " ")
	}
	fmt.Println("load average at start:", loadAvg())

	measure := func(figure, target string, n int, f func(d *daemon, i int) time.Duration) {
		fmt.Printf("%-44s", figure)
		for i := 0; i < n; i++ {
			for _, d := range daemons { // alternate the daemons
				r.add(figure, target, d.name, f(d, i).Seconds())
			}
		}
		fmt.Println(r.line(figure))
	}
	timed := func(f func()) time.Duration { t0 := time.Now(); f(); return time.Since(t0) }
	if *onlyRemotes {
		benchRemotes(measure, reps, lxd, lodge, abs, filepath.Join(filepath.Dir(abs), "lodge"), *debian)
		if err := r.write(*out, loadAvg(), *label, *appendOut); err != nil {
			fatal(err)
		}
		return
	}

	measure("daemon cold start (to GET /1.0)", "0.1", reps(3), func(d *daemon, _ int) time.Duration {
		d.stop()
		return d.up()
	})
	measure("GET /1.0 (median of 100)", "", reps(3), func(d *daemon, _ int) time.Duration {
		var ts []float64
		for j := 0; j < 100; j++ {
			ts = append(ts, timed(func() { _ = d.get("/1.0") }).Seconds())
		}
		return time.Duration(median(ts) * float64(time.Second))
	})
	r.mem("daemon RSS idle (MiB)", "0.33", map[string]float64{lxd.name: float64(lxd.rss()) / 1024, lodge.name: float64(lodge.rss()) / 1024})

	// Each daemon's first launch of an image: fresh fingerprints (variants
	// of the same tarball), imported and then launched.
	for _, img := range []struct {
		name, path string
		n          int
	}{{"busybox", *busybox, reps(3)}, {"Debian", *debian, reps(2)}} {
		var variants []string
		for i := 0; i < img.n; i++ {
			v, err := imageVariant(img.path, i)
			if err != nil {
				fatal(err)
			}
			variants = append(variants, v)
		}
		measure("image import, "+img.name, "", img.n, func(d *daemon, i int) time.Duration {
			return timed(func() { d.mustLXC("image", "import", variants[i], "--alias", fmt.Sprintf("%s-v%d", img.name, i)) })
		})
		measure("first launch of an image, "+img.name+" (dir)", "", img.n, func(d *daemon, i int) time.Duration {
			return timed(func() {
				d.mustLXC("launch", fmt.Sprintf("%s-v%d", img.name, i), fmt.Sprintf("first-%s-%d", img.name, i))
			})
		})
		for _, d := range daemons {
			for i := range variants {
				_, _ = d.lxc("delete", "-f", fmt.Sprintf("first-%s-%d", img.name, i))
				_, _ = d.lxc("image", "delete", fmt.Sprintf("%s-v%d", img.name, i))
			}
		}
	}
	for _, d := range daemons {
		d.mustLXC("image", "import", *busybox, "--alias", "bb")
		d.mustLXC("image", "import", *debian, "--alias", "deb")
		d.mustLXC("launch", "bb", "warm") // later launches are measured below
		d.mustLXC("delete", "-f", "warm")
	}

	measure("launch busybox (dir)", "0.25", reps(5), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("launch", "bb", fmt.Sprintf("b%d", i)) })
	})
	measure("exec c -- true", "0.5", reps(10), func(d *daemon, _ int) time.Duration {
		return timed(func() { d.mustLXC("exec", "b0", "--", "true") })
	})
	// The client's own floor under every lxc figure: exec's target sits
	// near it.
	measure("lxc start-up alone (lxc --version, no request)", "", reps(10), func(d *daemon, _ int) time.Duration {
		return timed(func() { d.mustLXC("--version") })
	})
	measure("config set limits.memory (running)", "", reps(5), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("config", "set", "b0", "limits.memory", fmt.Sprintf("%dMiB", 128+i)) })
	})
	measure("stop --force (busybox)", "0.1", reps(5), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("stop", "--force", fmt.Sprintf("b%d", i)) })
	})
	measure("start (busybox)", "", reps(5), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("start", fmt.Sprintf("b%d", i)) })
	})
	measure("clean stop (busybox)", "0.2", reps(2), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("stop", fmt.Sprintf("b%d", i)) })
	})
	measure("delete -f of a running container", "0.2", reps(3), func(d *daemon, i int) time.Duration {
		n := fmt.Sprintf("del%d", i)
		d.mustLXC("launch", "bb", n)
		return timed(func() { d.mustLXC("delete", "-f", n) })
	})
	measure("launch Debian (dir)", "0.25", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("launch", "deb", fmt.Sprintf("d%d", i)) })
	})
	measure("launch Debian to systemd running", "", reps(2), func(d *daemon, i int) time.Duration {
		n := fmt.Sprintf("ds%d", i)
		return timed(func() {
			d.mustLXC("launch", "deb", n)
			for k := 0; k < 600; k++ {
				o, _ := d.lxc("exec", n, "--", "systemctl", "is-system-running")
				if s := strings.TrimSpace(o); s == "running" || s == "degraded" {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	})
	measure("clean stop (Debian, systemd)", "", reps(2), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("stop", fmt.Sprintf("ds%d", i)) })
	})
	measure("snapshot of Debian (dir)", "0.33", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("snapshot", "ds0", fmt.Sprintf("s%d", i)) })
	})
	measure("restore of Debian (dir, stopped)", "", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("restore", "ds0", fmt.Sprintf("s%d", i)) })
	})
	measure("copy of Debian (dir)", "0.33", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("copy", "ds0", fmt.Sprintf("cp%d", i), "--instance-only") })
	})
	measure("delete of a stopped Debian", "", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("delete", fmt.Sprintf("cp%d", i)) })
	})
	// Storage pools: one made, a first launch on it (the image unpacked
	// into that pool), an empty one deleted.
	measure("storage pool create (dir)", "", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("storage", "create", fmt.Sprintf("sp%d", i), "dir") })
	})
	measure("first launch on a new pool, Debian (dir)", "", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("launch", "deb", fmt.Sprintf("onsp%d", i), "-s", fmt.Sprintf("sp%d", i)) })
	})
	measure("storage pool delete (empty, dir)", "", reps(3), func(d *daemon, i int) time.Duration {
		n := fmt.Sprintf("empty%d", i)
		d.mustLXC("storage", "create", n, "dir")
		return timed(func() { d.mustLXC("storage", "delete", n) })
	})
	for _, d := range daemons {
		for i := 0; i < reps(3); i++ {
			_, _ = d.lxc("delete", "-f", fmt.Sprintf("onsp%d", i))
		}
	}
	// btrfs pools on loop files in each daemon's directory: instances,
	// snapshots and copies are subvolume snapshots in both.
	measure("storage pool create (btrfs, loop file)", "", reps(2), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("storage", "create", fmt.Sprintf("bt%d", i), "btrfs", "size=5GiB") })
	})
	measure("first launch on a new pool, Debian (btrfs)", "", reps(2), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("launch", "deb", fmt.Sprintf("onbt%d", i), "-s", fmt.Sprintf("bt%d", i)) })
	})
	measure("launch Debian (btrfs)", "0.25", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("launch", "deb", fmt.Sprintf("btl%d", i), "-s", "bt0") })
	})
	measure("snapshot of Debian (btrfs)", "0.33", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("snapshot", "onbt0", fmt.Sprintf("s%d", i)) })
	})
	measure("copy of Debian (btrfs)", "0.33", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("copy", "onbt0", fmt.Sprintf("btc%d", i), "--instance-only") })
	})
	measure("delete of a stopped Debian (btrfs)", "", reps(3), func(d *daemon, i int) time.Duration {
		return timed(func() { d.mustLXC("delete", fmt.Sprintf("btc%d", i)) })
	})
	// Backups (files, zstd) of the Debian container with its snapshots.
	measure("export of Debian with 3 snapshots (btrfs, files, zstd)", "", reps(2), func(d *daemon, i int) time.Duration {
		file := filepath.Join(root, fmt.Sprintf("%s-export-%d.tar.zst", d.name, i))
		return timed(func() { d.mustLXC("export", "onbt0", file, "--compression", "zstd") })
	})
	measure("import of that backup (btrfs, files)", "", reps(2), func(d *daemon, i int) time.Duration {
		file := filepath.Join(root, fmt.Sprintf("%s-export-%d.tar.zst", d.name, i))
		defer os.Remove(file)
		return timed(func() { d.mustLXC("import", file, fmt.Sprintf("imp%d", i), "--storage", "bt0") })
	})
	// Optimized: btrfs send streams, each snapshot against the one before,
	// in a plain tarball: LXD 5.0.2 can hang importing a compressed
	// optimized backup (its passes over the file race their decompressors).
	measure("export of Debian with 3 snapshots (btrfs, optimized)", "0.5", reps(2), func(d *daemon, i int) time.Duration {
		file := filepath.Join(root, fmt.Sprintf("%s-opt-%d.tar", d.name, i))
		return timed(func() { d.mustLXC("export", "onbt0", file, "--optimized-storage", "--compression", "none") })
	})
	measure("import of that backup (btrfs, optimized)", "0.5", reps(2), func(d *daemon, i int) time.Duration {
		file := filepath.Join(root, fmt.Sprintf("%s-opt-%d.tar", d.name, i))
		defer os.Remove(file)
		return timed(func() { d.mustLXC("import", file, fmt.Sprintf("impo%d", i), "--storage", "bt0") })
	})
	// Lodge alone (LXD has no incremental backups): after the optimized
	// export above, one file changes and lodge export --since writes only
	// that change.
	lodgeCLI := filepath.Join(filepath.Dir(abs), "lodge")
	for i := 0; i < reps(3); i++ {
		lodge.mustLXC("exec", "onbt0", "--", "sh", "-c", fmt.Sprintf("echo %d > /root/changed", i))
		prev := filepath.Join(root, "Lodge-opt-0.tar")
		if i > 0 {
			prev = filepath.Join(root, fmt.Sprintf("Lodge-inc-%d.tar", i-1))
		}
		if i == 0 {
			// The export before was imported and removed: make it again.
			lodgeRun(lodgeCLI, lodge, "export", "onbt0", prev, "--optimized-storage", "--compression", "none")
		}
		next := filepath.Join(root, fmt.Sprintf("Lodge-inc-%d.tar", i))
		t := timed(func() { lodgeRun(lodgeCLI, lodge, "export", "onbt0", next, "--since", prev, "--compression", "none") })
		r.add("incremental export after one file changed (Lodge only)", "< 1 s", lodge.name, t.Seconds())
	}
	fmt.Printf("%-44s%s\n", "incremental export after one file changed", r.line("incremental export after one file changed (Lodge only)"))
	for _, d := range daemons {
		for i := 0; i < reps(2); i++ {
			_, _ = d.lxc("delete", "-f", fmt.Sprintf("imp%d", i))
			_, _ = d.lxc("delete", "-f", fmt.Sprintf("impo%d", i))
		}
	}
	for _, d := range daemons {
		for i := 0; i < reps(3); i++ {
			_, _ = d.lxc("delete", "-f", fmt.Sprintf("btl%d", i))
		}
		for i := 0; i < reps(2); i++ {
			_, _ = d.lxc("delete", "-f", fmt.Sprintf("onbt%d", i))
		}
	}
	for _, d := range daemons {
		for i := 0; i < reps(3); i++ {
			_, _ = d.lxc("delete", "-f", fmt.Sprintf("d%d", i))
		}
		for i := 0; i < reps(2); i++ {
			_, _ = d.lxc("delete", "-f", fmt.Sprintf("ds%d", i))
		}
	}

	// Lists and memory with 1, 10 and 50 running busybox containers.
	running := func(d *daemon, want int) {
		out := d.mustLXC("list", "--format", "csv", "-c", "ns")
		have := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Split(l, ","); len(f) == 2 {
				have[f[0]] = f[1] == "RUNNING"
			}
		}
		for i := 0; i < want; i++ {
			n := fmt.Sprintf("b%d", i)
			if running, exists := have[n]; !exists {
				d.mustLXC("launch", "bb", n)
			} else if !running {
				d.mustLXC("start", n)
			}
		}
	}
	for _, n := range []int{1, 10, 50} {
		if *quick && n == 50 {
			n = 20
		}
		if n == 1 {
			for _, d := range daemons {
				running(d, 5) // b0..b4 back up after the stop figures
			}
		}
		for _, d := range daemons {
			running(d, n)
		}
		if n >= 20 {
			// Host memory per container charged to its own memory cgroup
			// (its processes and the page cache they use); what the manager
			// keeps for it outside the cgroup is the next figure.
			hostMem := map[string]float64{}
			for _, d := range daemons {
				var total int64
				for i := 0; i < n; i++ {
					total += cgroupMemory(d, fmt.Sprintf("b%d", i))
				}
				hostMem[d.name] = float64(total) / 1024 / 1024 / float64(n)
			}
			r.mem("host memory per running busybox container, own cgroup (MiB)", "", hostMem)
		}
		measure(fmt.Sprintf("lxc list, %d running", n), "", reps(3), func(d *daemon, _ int) time.Duration {
			return timed(func() { d.mustLXC("list") })
		})
		measure(fmt.Sprintf("GET recursion=1, %d running", n), "", reps(5), func(d *daemon, _ int) time.Duration {
			return timed(func() { _ = d.get("/1.0/instances?recursion=1") })
		})
		target := ""
		if n >= 20 {
			target = "0.2"
		}
		measure(fmt.Sprintf("GET recursion=2, %d running", n), target, reps(5), func(d *daemon, _ int) time.Duration {
			return timed(func() { _ = d.get("/1.0/instances?recursion=2") })
		})
		if n >= 20 {
			// LXD keeps a scrape's answer for 8 s: each sample waits that
			// out first, so both answer from the instances themselves, as
			// for a Prometheus that scrapes every 15 s.
			measure(fmt.Sprintf("GET /1.0/metrics, %d running", n), "0.3", reps(3), func(d *daemon, _ int) time.Duration {
				time.Sleep(9 * time.Second)
				var err error
				took := timed(func() { err = d.get("/1.0/metrics") })
				if err != nil {
					fatal(fmt.Errorf("%s: %w", d.name, err))
				}
				return took
			})
			r.mem(fmt.Sprintf("daemon RSS with %d running (MiB)", n), "0.33", map[string]float64{lxd.name: float64(lxd.rss()) / 1024, lodge.name: float64(lodge.rss()) / 1024})
			perCtr := map[string]float64{}
			var kib int64
			for _, p := range pidsMatching("[lxc monitor]") {
				kib += rssOf(p)
			}
			perCtr[lxd.name] = float64(kib) / 1024 / float64(n)
			// Lodge keeps one console keeper for all containers of a daemon.
			kib = 0
			for _, p := range pidsMatching("console-keeper " + lodge.dir) {
				kib += rssOf(p)
			}
			perCtr[lodge.name] = float64(kib) / 1024 / float64(n)
			r.mem("manager memory per running container (MiB)", "0.1", perCtr)
		}
	}

	// Launches per second with 8 parallel clients.
	for _, d := range daemons {
		total := reps(16)
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < total; i += 8 {
					_, _ = d.lxc("launch", "bb", fmt.Sprintf("par%d", i))
				}
			}(w)
		}
		wg.Wait()
		r.add("launches/s, 8 parallel clients (higher is better)", "", d.name, float64(total)/time.Since(t0).Seconds())
	}
	fmt.Printf("%-44s%s\n", "launches/s, 8 parallel clients", r.line("launches/s, 8 parallel clients (higher is better)"))
	for _, d := range daemons {
		_, _ = d.lxc("stop", "--all", "--force")
	}

	// Density: busybox containers launched one by one, with every other
	// container stopped, until the host's memory in use has grown by the
	// budget (or the cap is reached).
	budget, limit := 256.0, 400
	if *quick {
		budget, limit = 64, 100
	}
	densityFigure := fmt.Sprintf("density: busybox containers running in %.0f MiB of host memory (higher is better, cap %d)", budget, limit)
	density := map[string]float64{}
	for _, d := range daemons {
		dropCaches()
		base := memUsedMiB()
		n := 0
		for ; n < limit; n++ {
			if n%5 == 0 && memUsedMiB()-base >= budget {
				break
			}
			if _, err := d.lxc("launch", "bb", fmt.Sprintf("dens%d", n)); err != nil {
				fmt.Printf("%s: launch %d failed: %v\n", d.name, n, err)
				break
			}
		}
		density[d.name] = float64(n)
		for i := 0; i < n; i++ {
			_, _ = d.lxc("delete", "-f", fmt.Sprintf("dens%d", i))
		}
	}
	r.mem(densityFigure, "", density)

	benchRemotes(measure, reps, lxd, lodge, abs, filepath.Join(filepath.Dir(abs), "lodge"), *debian)

	if !*quick {
		// 1,000 defined (stopped) instances.
		for _, d := range daemons {
			fmt.Printf("defining 1,000 instances on %s...\n", d.name)
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := w; i < 1000; i += 4 {
						_, _ = d.lxc("init", "--empty", fmt.Sprintf("e%d", i))
					}
				}(w)
			}
			wg.Wait()
		}
		measure("GET recursion=1, 1,000 defined", "< 100 ms", 5, func(d *daemon, _ int) time.Duration {
			return timed(func() { _ = d.get("/1.0/instances?recursion=1") })
		})
		measure("GET recursion=2, 1,000 defined", "", 3, func(d *daemon, _ int) time.Duration {
			return timed(func() { _ = d.get("/1.0/instances?recursion=2") })
		})
		measure("lxc list, 1,000 defined", "", 3, func(d *daemon, _ int) time.Duration {
			return timed(func() { d.mustLXC("list") })
		})
		r.mem("daemon RSS with 1,000 defined (MiB)", "", map[string]float64{lxd.name: float64(lxd.rss()) / 1024, lodge.name: float64(lodge.rss()) / 1024})
	}
	fmt.Println("load average at end:", loadAvg())
	if err := r.write(*out, loadAvg(), *label, *appendOut); err != nil {
		fatal(err)
	}
	fmt.Println("wrote", *out)
}

// initLXD gives an LXD a dir pool called default and a default profile
// whose root disk is on it.
func initLXD(lxd *daemon) {
	preseed := "storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n"
	initCmd := exec.Command("lxd", "init", "--preseed")
	initCmd.Env, initCmd.Stdin = lxd.env(), strings.NewReader(preseed)
	if o, err := initCmd.CombinedOutput(); err != nil {
		fatal(fmt.Errorf("lxd init: %v: %s", err, o))
	}
}

// cgroupMemory reads a container's memory cgroup usage in bytes (v1 or v2),
// wherever its manager puts it.
func cgroupMemory(d *daemon, name string) int64 {
	lodge := container.CgroupParent(d.dir) + "/" + name
	dirs := map[string][]string{
		"LXD":   {"/sys/fs/cgroup/memory/lxc.payload." + name + "/memory.usage_in_bytes", "/sys/fs/cgroup/lxc.payload." + name + "/memory.current"},
		"Lodge": {"/sys/fs/cgroup/memory" + lodge + "/memory.usage_in_bytes", "/sys/fs/cgroup" + lodge + "/memory.current"},
	}[d.name]
	for _, p := range dirs {
		if data, err := os.ReadFile(p); err == nil {
			var v int64
			fmt.Sscanf(strings.TrimSpace(string(data)), "%d", &v)
			return v
		}
	}
	return 0
}

func startLXCFS() {
	if len(pidsMatching("lxcfs /var/lib/lxcfs")) > 0 {
		return
	}
	_ = os.MkdirAll("/var/lib/lxcfs", 0o755)
	lxcfsCmd = exec.Command("lxcfs", "/var/lib/lxcfs")
	if err := lxcfsCmd.Start(); err != nil {
		fatal(fmt.Errorf("start lxcfs: %w", err))
	}
	time.Sleep(500 * time.Millisecond)
}

// lodgeRun runs the lodge client against d, or stops the run.
func lodgeRun(bin string, d *daemon, args ...string) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "LODGE_DIR="+d.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		fatal(fmt.Errorf("lodge %s: %v: %s", strings.Join(args, " "), err, out))
	}
}
