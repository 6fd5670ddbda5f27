package procfs

import "testing"

func TestContaining(t *testing.T) {
	tab := MountTable{
		{"/", "ext4", "/dev/sda1"},
		{"/var/lib/lodge", "xfs", "/dev/sdb"},
		{"/var/lib/lodge/pool", "btrfs", "/dev/loop0"},
		{"/var/lib/lodge/pool", "btrfs", "/dev/loop1"}, // mounted over the first
		{"/var/lib/lodgex", "tmpfs", "tmpfs"},
	}
	for path, want := range map[string]string{
		"/":                         "/dev/sda1",
		"/etc":                      "/dev/sda1",
		"/var/lib/lodge":            "/dev/sdb",
		"/var/lib/lodge/images":     "/dev/sdb",
		"/var/lib/lodge/pool/c1":    "/dev/loop1",
		"/var/lib/lodgex/c1":        "tmpfs",
		"/var/lib/lodge-other/file": "/dev/sda1",
	} {
		if m, ok := tab.Containing(path); !ok || m.Source != want {
			t.Errorf("Containing(%q) = %v, want %s", path, m, want)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/x\134y`: `/x\y`, `/end\04`: `/end\04`, `plain`: "plain"} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMountsReadsThisProcess(t *testing.T) {
	tab, err := Mounts()
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := tab.Containing("/proc/self"); !ok || m.FSType != "proc" {
		t.Errorf("/proc/self is on %+v, want a proc mount", m)
	}
}
