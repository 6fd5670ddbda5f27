package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
)

func TestSnapshots(t *testing.T) {
	d := withBusybox(t)
	name := uniq("snap")
	d.MustLodge("launch", "busybox", name, "-c", "user.phase=one")
	d.MustLodge("exec", name, "--", "sh", "-c", "echo one > /root/state")
	d.MustLodge("snapshot", name) // running, named by pattern: snap0
	d.MustLodge("config", "set", name, "user.phase=two")
	d.MustLodge("exec", name, "--", "sh", "-c", "echo two > /root/state")
	d.MustLodge("stop", "-f", name)
	d.MustLodge("snapshot", name, "stopped-one")

	var snaps []api.InstanceSnapshot
	_, env := d.API("GET", "/1.0/instances/"+name+"/snapshots?recursion=1", nil)
	_ = json.Unmarshal(env.Metadata, &snaps)
	if len(snaps) != 2 || snaps[0].Name != "snap0" || snaps[1].Name != "stopped-one" || snaps[0].Config["user.phase"] != "one" {
		t.Fatalf("snapshots: %+v", snaps)
	}
	if info := d.MustLodge("info", name); !strings.Contains(info, "snap0") || !strings.Contains(info, "stopped-one") {
		t.Fatalf("info does not list snapshots:\n%s", info)
	}
	// Snapshots are immutable: their files cannot be written through the API
	// and a PUT changes only the expiry.
	snapDir := filepath.Join(d.Dir, "storage-pools", "default", "containers-snapshots", name, "snap0")
	// A layered instance's snapshot holds its upper layer, a flat one's
	// its whole rootfs.
	_, errUpper := os.Stat(filepath.Join(snapDir, "upper", "root", "state"))
	if _, err := os.Stat(filepath.Join(snapDir, "rootfs", "root", "state")); err != nil && errUpper != nil {
		t.Fatalf("snapshot copy missing: %v", errUpper)
	}
	if st, _ := d.API("PUT", "/1.0/instances/"+name+"/snapshots/snap0", map[string]any{"expires_at": time.Now().Add(time.Hour)}); st != 202 {
		t.Fatalf("snapshot expiry update: %d", st)
	}

	// Restore brings back files and config, on a running instance too.
	d.MustLodge("start", name)
	d.MustLodge("restore", name, "snap0")
	if got := strings.TrimSpace(d.MustLodge("exec", name, "--", "cat", "/root/state")); got != "one" {
		t.Fatalf("after restore the file says %q", got)
	}
	if got := strings.TrimSpace(d.MustLodge("config", "get", name, "user.phase")); got != "one" {
		t.Fatalf("after restore user.phase=%q", got)
	}
	if _, stderr, err := d.Lodge("restore", name, "nope"); err == nil || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("restore of a missing snapshot: %v %q", err, stderr)
	}

	// Rename and delete.
	d.MustLodge("move", name+"/stopped-one", name+"/renamed")
	d.MustLodge("delete", name+"/renamed")
	_, env = d.API("GET", "/1.0/instances/"+name+"/snapshots", nil)
	var urls []string
	_ = json.Unmarshal(env.Metadata, &urls)
	if len(urls) != 1 || !strings.HasSuffix(urls[0], "/snap0") {
		t.Fatalf("snapshots after rename+delete: %v", urls)
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "storage-pools", "default", "containers-snapshots", name, "renamed")); !os.IsNotExist(err) {
		t.Fatal("deleted snapshot's copy is still on disk")
	}
	if st, env := d.API("POST", "/1.0/instances/"+name+"/snapshots", api.InstanceSnapshotsPost{Name: "a/b"}); st != 400 {
		t.Fatalf("snapshot name with a slash: %d %s", st, env.Error)
	}
}

func TestCopyAndRename(t *testing.T) {
	d := withBusybox(t)
	src := uniq("src")
	d.MustLodge("launch", "busybox", src, "-c", "user.origin=src")
	d.MustLodge("exec", src, "--", "sh", "-c", "echo before > /root/f")
	d.MustLodge("snapshot", src, "s1")
	d.MustLodge("exec", src, "--", "sh", "-c", "echo after > /root/f")

	full, only, fromSnap, eph := uniq("full"), uniq("only"), uniq("fromsnap"), uniq("eph")
	d.MustLodge("copy", src, full)
	d.MustLodge("copy", src, only, "--instance-only")
	d.MustLodge("copy", src+"/s1", fromSnap)
	d.MustLodge("copy", src, eph, "--ephemeral")
	for n, want := range map[string]string{full: "after", only: "after", fromSnap: "before"} {
		d.MustLodge("start", n)
		if got := strings.TrimSpace(d.MustLodge("exec", n, "--", "cat", "/root/f")); got != want {
			t.Errorf("%s holds %q, want %q", n, got, want)
		}
		if got := strings.TrimSpace(d.MustLodge("config", "get", n, "user.origin")); got != "src" {
			t.Errorf("%s lost the source's config: %q", n, got)
		}
	}
	count := func(n string) int {
		_, env := d.API("GET", "/1.0/instances/"+n+"/snapshots", nil)
		var urls []string
		_ = json.Unmarshal(env.Metadata, &urls)
		return len(urls)
	}
	if count(full) != 1 || count(only) != 0 || count(fromSnap) != 0 {
		t.Fatalf("snapshot counts: full %d, instance-only %d, from snapshot %d", count(full), count(only), count(fromSnap))
	}
	if _, stderr, err := d.Lodge("copy", src, full); err == nil || !strings.Contains(stderr, "already exists") {
		t.Fatalf("copy onto an existing name: %v %q", err, stderr)
	}
	// An ephemeral copy goes away when it stops.
	d.MustLodge("start", eph)
	d.MustLodge("stop", "-f", eph)
	waitFor(t, "the ephemeral copy to be deleted", 10*time.Second, func() bool {
		st, _ := d.API("GET", "/1.0/instances/"+eph, nil)
		return st == 404
	})

	// Rename a stopped instance; its snapshots follow.
	renamed := uniq("renamed")
	d.MustLodge("stop", "-f", full)
	d.MustLodge("move", full, renamed)
	if count(renamed) != 1 {
		t.Fatal("snapshots did not follow the rename")
	}
	d.MustLodge("start", renamed)
	if _, stderr, err := d.Lodge("move", renamed, src); err == nil || !strings.Contains(stderr, "running") {
		t.Fatalf("renaming a running instance: %v %q", err, stderr)
	}

	// A protected instance is not deleted.
	d.MustLodge("config", "set", only, "security.protection.delete=true")
	if _, stderr, err := d.Lodge("delete", "-f", only); err == nil || !strings.Contains(stderr, "protected") {
		t.Fatalf("delete of a protected instance: %v %q", err, stderr)
	}
}

// TestSnapshotSchedule waits for a per-minute schedule to fire, on an
// instance and on a custom volume, and for the snapshots they made to
// expire. It runs in parallel with the other slow tests.
func TestSnapshotSchedule(t *testing.T) {
	t.Parallel()
	d := withBusybox(t, "--scheduler-tick", "1s")
	name := uniq("sched")
	if _, stderr, err := d.Lodge("launch", "busybox", name, "-c", "snapshots.schedule=61 * * * *"); err == nil || !strings.Contains(stderr, "cron") {
		t.Fatalf("bad cron expression: %v %q", err, stderr)
	}
	d.MustLodge("launch", "busybox", name, "-c", "snapshots.schedule=* * * * *", "-c", "snapshots.pattern=auto-%d", "-c", "snapshots.expiry=1M")
	// A custom volume on the same schedule (lxc storage volume set).
	d.MustLXC("storage", "volume", "create", "default", "sched")
	if _, stderr, err := d.LXC("storage", "volume", "set", "default", "sched", "snapshots.schedule", "61 * * * *"); err == nil || !strings.Contains(stderr, "snapshots.schedule") {
		t.Fatalf("a bad schedule on a volume: %v %q", err, stderr)
	}
	for _, kv := range [][2]string{{"snapshots.schedule", "* * * * *"}, {"snapshots.pattern", "vol-%d"}, {"snapshots.expiry", "1M"}} {
		d.MustLXC("storage", "volume", "set", "default", "sched", kv[0], kv[1])
	}
	// Scheduled backups (lodge_backup_schedule), on the same minute: one
	// instance's into a folder, where an old one of its is expired, and
	// another's as its own backups.
	if _, stderr, err := d.Lodge("config", "set", name, "backups.path=relative/dir"); err == nil || !strings.Contains(stderr, "absolute") {
		t.Fatalf("a relative backups.path: %v %q", err, stderr)
	}
	if _, stderr, err := d.Lodge("config", "set", name, "backups.schedule=@startup"); err == nil || !strings.Contains(stderr, "cron schedule") {
		t.Fatalf("backups.schedule=@startup: %v %q", err, stderr)
	}
	backupDir := t.TempDir()
	old := filepath.Join(backupDir, name+"-20200101-000000.tar.gz")
	if err := os.WriteFile(old, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d.MustLodge("config", "set", name, "backups.schedule=* * * * *", "backups.path="+backupDir, "backups.expiry=1d")
	recorded := uniq("sched")
	d.MustLodge("init", "busybox", recorded, "-c", "backups.schedule=* * * * *", "-c", "backups.expiry=1w")
	var snaps []api.InstanceSnapshot
	waitFor(t, "a scheduled snapshot", 75*time.Second, func() bool {
		_, env := d.API("GET", "/1.0/instances/"+name+"/snapshots?recursion=1", nil)
		_ = json.Unmarshal(env.Metadata, &snaps)
		return len(snaps) > 0
	})
	if snaps[0].Name != "auto-0" || snaps[0].ExpiresAt.IsZero() {
		t.Fatalf("scheduled snapshot: %+v", snaps[0])
	}
	var volSnaps []api.StorageVolumeSnapshot
	waitFor(t, "a scheduled volume snapshot", 75*time.Second, func() bool {
		_, env := d.API("GET", "/1.0/storage-pools/default/volumes/custom/sched/snapshots?recursion=1", nil)
		_ = json.Unmarshal(env.Metadata, &volSnaps)
		return len(volSnaps) > 0
	})
	if volSnaps[0].Name != "vol-0" || volSnaps[0].ExpiresAt == nil {
		t.Fatalf("scheduled volume snapshot: %+v", volSnaps[0])
	}
	waitFor(t, "the scheduled backups", 75*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(backupDir, name+"-2*.tar.gz"))
		var backups []api.InstanceBackup
		_, env := d.API("GET", "/1.0/instances/"+recorded+"/backups?recursion=1", nil)
		_ = json.Unmarshal(env.Metadata, &backups)
		return len(files) == 1 && len(backups) == 1
	})
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("the expired backup in backups.path is still there: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(backupDir, name+"-2*.tar.gz"))
	if entries := tarEntries(t, files[0]); entries["backup/index.yaml"] == nil || entries["backup/container/rootfs"] == nil {
		t.Fatalf("the scheduled backup file is not a backup: %v", entries)
	}
	var backups []api.InstanceBackup
	_, env := d.API("GET", "/1.0/instances/"+recorded+"/backups?recursion=1", nil)
	_ = json.Unmarshal(env.Metadata, &backups)
	if exp := time.Until(backups[0].ExpiresAt); exp < 6*24*time.Hour || exp > 7*24*time.Hour {
		t.Fatalf("the scheduled backup expires in %v, want a week", exp)
	}
	d.MustLodge("config", "unset", name, "backups.schedule")
	d.MustLodge("config", "unset", recorded, "backups.schedule")
	// The volume's expiry (1M) takes its snapshot away again.
	d.MustLXC("storage", "volume", "unset", "default", "sched", "snapshots.schedule")
	waitFor(t, "the volume snapshot to expire", 90*time.Second, func() bool {
		_, env := d.API("GET", "/1.0/storage-pools/default/volumes/custom/sched/snapshots", nil)
		return !strings.Contains(string(env.Metadata), "vol-0")
	})
	// A volume snapshot's own expiry (custom_volume_snapshot_expiry).
	volExp := time.Now().Add(2 * time.Second)
	if st, env := d.API("POST", "/1.0/storage-pools/default/volumes/custom/sched/snapshots", api.StorageVolumeSnapshotsPost{Name: "short", ExpiresAt: &volExp}); st >= 400 {
		t.Fatalf("a volume snapshot with an expiry: %d %s", st, env.Error)
	}
	waitFor(t, "the expired volume snapshot to be deleted", 15*time.Second, func() bool {
		st, _ := d.API("GET", "/1.0/storage-pools/default/volumes/custom/sched/snapshots/short", nil)
		return st == 404
	})
	// Expiry: stop the schedule, then a snapshot made to expire in 2s goes.
	d.MustLodge("config", "unset", name, "snapshots.schedule")
	exp := time.Now().Add(2 * time.Second)
	if st, env := d.API("POST", "/1.0/instances/"+name+"/snapshots", api.InstanceSnapshotsPost{Name: "short", ExpiresAt: &exp}); st != 202 {
		t.Fatalf("snapshot with expiry: %d %s", st, env.Error)
	}
	waitFor(t, "the expired snapshot to be deleted", 15*time.Second, func() bool {
		st, _ := d.API("GET", "/1.0/instances/"+name+"/snapshots/short", nil)
		return st == 404
	})
}
