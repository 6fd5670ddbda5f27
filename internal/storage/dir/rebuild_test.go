package dir_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/dir"
)

func customVol(name string) storage.Volume {
	return storage.Volume{Pool: "test", Project: storage.DefaultProject, Type: storage.TypeCustom, Name: name, Content: storage.ContentFilesystem}
}

// A rebuild sets the volume's tree aside and builds the new one beside
// it; undone at any step before it is committed, the volume is its old
// tree again, and nothing of the rebuild is left.
func TestRebuildUndoneAtEachStep(t *testing.T) {
	d := newPool(t, dir.NewFlat, "")
	v := customVol("v1")
	if err := d.CreateEmptyVolume(v); err != nil {
		t.Fatal(err)
	}
	vol := d.VolumePath(v)
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(path string) string {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	write(filepath.Join(vol, "f"), "old")
	ws0 := ""
	for _, finished := range []bool{false, true} {
		ws, err := d.BeginRebuild(v)
		if err != nil {
			t.Fatal(err)
		}
		ws0 = ws
		if _, err := os.Lstat(vol); !os.IsNotExist(err) {
			t.Fatalf("the volume is still in place during its rebuild: %v", err)
		}
		if err := os.Link(filepath.Join(ws, migration.LinkedOld, "f"), filepath.Join(ws, migration.LinkedNew, "f")); err != nil {
			t.Fatalf("a new tree cannot link the old one's files: %v", err)
		}
		write(filepath.Join(ws, migration.LinkedNew, "g"), "new")
		if finished {
			if err := d.FinishRebuild(v); err != nil {
				t.Fatal(err)
			}
			if read(filepath.Join(vol, "g")) != "new" {
				t.Fatal("the rebuilt tree is not in place")
			}
		}
		undone, err := d.UndoRebuild(v)
		if err != nil || !undone {
			t.Fatalf("undo: %v %v", undone, err)
		}
		if read(filepath.Join(vol, "f")) != "old" {
			t.Error("the old tree is not back")
		}
		if _, err := os.Lstat(filepath.Join(vol, "g")); !os.IsNotExist(err) {
			t.Errorf("the undone rebuild's file is in the volume: %v", err)
		}
		if _, err := os.Lstat(ws); !os.IsNotExist(err) {
			t.Errorf("the workspace is left: %v", err)
		}
		// Again, as after a crash: nothing to undo.
		if undone, err := d.UndoRebuild(v); err != nil || undone {
			t.Errorf("a second undo: %v %v", undone, err)
		}
	}
	// An undo cut short after the old tree was back, before the
	// workspace went: it still counts as undone (the caller checks the
	// tree again).
	if _, err := d.BeginRebuild(v); err != nil {
		t.Fatal(err)
	}
	if err := d.FinishRebuild(v); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(vol, filepath.Join(ws0, "undone")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(ws0, migration.LinkedOld), vol); err != nil {
		t.Fatal(err)
	}
	if undone, err := d.UndoRebuild(v); err != nil || !undone {
		t.Errorf("an undo cut short, run again: %v %v", undone, err)
	}
	if read(filepath.Join(vol, "f")) != "old" {
		t.Error("the old tree is not the volume after the undo cut short")
	}
	// Committed: the new tree stays and the old one goes.
	if _, err := d.BeginRebuild(v); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(ws0, migration.LinkedNew, "f"), "new")
	if err := d.EndRebuild(v); err == nil {
		t.Fatal("the workspace went while it held the only tree of the volume")
	}
	if err := d.FinishRebuild(v); err != nil {
		t.Fatal(err)
	}
	if err := d.EndRebuild(v); err != nil {
		t.Fatal(err)
	}
	if read(filepath.Join(vol, "f")) != "new" {
		t.Error("the committed rebuild's tree is not the volume")
	}
	if _, err := os.Lstat(ws0); !os.IsNotExist(err) {
		t.Errorf("the workspace is left: %v", err)
	}
	d.WaitRemovals()
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(vol)), ".*")); len(left) > 0 {
		t.Errorf("the old tree is left: %v", left)
	}
	names, err := d.VolumeNames(storage.TypeCustom)
	if err != nil || len(names) != 1 {
		t.Errorf("volumes after the rebuilds: %v %v", names, err)
	}
}
