package hostcheck

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fakeHost lays out files under a temporary root.
func fakeHost(t *testing.T, files map[string]string, tools ...string) Host {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if content == "<dir>" {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have := map[string]bool{}
	for _, tool := range tools {
		have[tool] = true
	}
	return Host{Root: root, LookPath: func(name string) (string, error) {
		if have[name] {
			return "/usr/bin/" + name, nil
		}
		return "", errors.New("not found")
	}}
}

func namespaces() map[string]string {
	out := map[string]string{"/proc/sys/user/max_user_namespaces": "1000"}
	for _, ns := range []string{"user", "mnt", "pid", "net", "uts", "ipc", "cgroup"} {
		out["/proc/self/ns/"+ns] = ""
	}
	return out
}

func item(t *testing.T, r Report, name string) Item {
	t.Helper()
	it, ok := r.Find(name)
	if !ok {
		t.Fatalf("no item %q in %+v", name, r.Items)
	}
	return it
}

func TestCgroupV1HybridWithMissingParts(t *testing.T) {
	files := namespaces()
	for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory", "blkio", "devices", "freezer"} { // no pids
		files["/sys/fs/cgroup/"+c] = "<dir>"
	}
	files["/sys/fs/cgroup/unified"] = "<dir>"
	files["/proc/filesystems"] = "nodev\toverlay\n\tbtrfs\n"
	files["/proc/self/mountinfo"] = "1 0 0:1 / / rw - ext4 /dev/sda rw\n"
	r := fakeHost(t, files, "dnsmasq", "lxcfs").Check()
	if r.CgroupVersion != "v1 (hybrid)" {
		t.Errorf("version %q", r.CgroupVersion)
	}
	if it := item(t, r, ControllerItem("pids")); it.OK || !it.Required {
		t.Errorf("a missing pids controller: %+v", it)
	}
	if it := item(t, r, ControllerItem("memory")); !it.OK {
		t.Errorf("memory: %+v", it)
	}
	if it := item(t, r, SwapAccounting); it.OK {
		t.Errorf("swap accounting with no memsw files: %+v", it)
	}
	if it := item(t, r, "overlay"); !it.OK {
		t.Errorf("overlay in /proc/filesystems: %+v", it)
	}
	if it := item(t, r, "xfs"); it.OK {
		t.Errorf("xfs, neither in /proc/filesystems nor a module: %+v", it)
	}
	if it := item(t, r, "nftables (nft)"); it.OK {
		t.Errorf("nft not installed: %+v", it)
	}
	if it := item(t, r, LXCFS); it.OK || it.Detail != "installed but not running (systemctl start lxcfs)" {
		t.Errorf("lxcfs installed, not mounted: %+v", it)
	}
	if it := item(t, r, AppArmor); it.OK {
		t.Errorf("AppArmor: %+v", it)
	}
}

func TestCgroupV2AndLxcfsRunning(t *testing.T) {
	files := namespaces()
	files["/sys/fs/cgroup/cgroup.controllers"] = "cpuset cpu io memory hugetlb pids"
	files["/sys/fs/cgroup/init.scope/memory.swap.max"] = "max"
	files["/proc/self/mountinfo"] = "1 0 0:1 / / rw - ext4 /dev/sda rw\n" +
		"40 1 0:50 / /var/lib/lxcfs rw,nosuid shared:20 - fuse.lxcfs lxcfs rw,user_id=0\n"
	files["/sys/kernel/security/apparmor"] = "<dir>"
	r := fakeHost(t, files, "lxcfs").Check()
	if r.CgroupVersion != "v2" {
		t.Errorf("version %q", r.CgroupVersion)
	}
	for _, c := range []string{"cpu", "cpuacct", "memory", "pids", "blkio", "devices", "freezer"} {
		if it := item(t, r, ControllerItem(c)); !it.OK {
			t.Errorf("%s under v2: %+v", c, it)
		}
	}
	if it := item(t, r, SwapAccounting); !it.OK {
		t.Errorf("swap accounting: %+v", it)
	}
	if it := item(t, r, LXCFS); !it.OK {
		t.Errorf("lxcfs mounted: %+v", it)
	}
	if it := item(t, r, AppArmor); !it.OK {
		t.Errorf("AppArmor: %+v", it)
	}
	if len(r.Missing()) == 0 {
		t.Error("nothing missing, though the fake host has no dnsmasq")
	}
}

func TestUserNamespacesTurnedOff(t *testing.T) {
	files := namespaces()
	files["/proc/sys/user/max_user_namespaces"] = "0"
	r := fakeHost(t, files).Check()
	if it := item(t, r, "user namespaces"); it.OK || !it.Required {
		t.Errorf("max_user_namespaces=0: %+v", it)
	}
}
