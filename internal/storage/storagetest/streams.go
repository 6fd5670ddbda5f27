package storagetest

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lodge-project/lodge/internal/storage"
)

// runStreams covers drivers with streams of their own (storage.Streamer):
// a volume with two snapshots goes out as streams and comes back whole,
// each tree fixed once, and a stream cut short leaves nothing.
func runStreams(t *testing.T, s Subject) {
	if _, ok := s.New(t).(storage.Streamer); !ok {
		t.Skip("the driver has no streams of its own")
	}
	ctx := context.Background()
	d := s.New(t)
	st := d.(storage.Streamer)
	if err := d.CreateEmptyVolume(vol("c1")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(d.VolumePath(vol("c1")), "rootfs", "f")
	var streams []storage.VolumeStream
	parent := ""
	for _, snap := range []string{"s1", "s2"} {
		if err := os.WriteFile(file, []byte(snap), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.CreateSnapshot(ctx, vol("c1"), snap); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := st.WriteStream(ctx, vol("c1"), storage.StreamSpec{Snapshot: snap, Parent: parent}, &b); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, storage.VolumeStream{Snapshot: snap, R: &b})
		parent = snap
	}
	if err := os.WriteFile(file, []byte("now"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := st.WriteStream(ctx, vol("c1"), storage.StreamSpec{Parent: parent, Top: map[string][]byte{"extra.yaml": []byte("x")}}, &b); err != nil {
		t.Fatal(err)
	}
	whole := b.Bytes()
	streams = append(streams, storage.VolumeStream{R: bytes.NewReader(whole)})
	if names, _ := d.VolumeNames(storage.TypeContainer); len(names) != 1 {
		t.Fatalf("writing streams left volumes: %v", names)
	}

	t.Run("RoundTrip", func(t *testing.T) {
		// fix may run for several trees at once.
		var mu sync.Mutex
		fixed := map[string]int{}
		i := 0
		next := func() (storage.VolumeStream, error) {
			if i == len(streams) {
				return storage.VolumeStream{}, io.EOF
			}
			i++
			return streams[i-1], nil
		}
		// Only the volume's tree has extra.yaml, which fix removes.
		fixVolume := func(dir, snap string) error {
			mu.Lock()
			fixed[snap]++
			mu.Unlock()
			if snap != "" {
				return nil
			}
			return os.Remove(filepath.Join(dir, "extra.yaml"))
		}
		if err := st.ReceiveStreams(ctx, vol("c2"), next, fixVolume); err != nil {
			t.Fatal(err)
		}
		if len(fixed) != 3 || fixed["s1"] != 1 || fixed["s2"] != 1 || fixed[""] != 1 {
			t.Fatalf("fixed %v, want s1, s2 and the volume once each", fixed)
		}
		got, _ := os.ReadFile(filepath.Join(d.VolumePath(vol("c2")), "rootfs", "f"))
		if string(got) != "now" {
			t.Fatalf("the volume holds %q", got)
		}
		if _, err := os.Stat(filepath.Join(d.VolumePath(vol("c2")), "extra.yaml")); !os.IsNotExist(err) {
			t.Fatalf("fix's change was lost: %v", err)
		}
		if names, _ := d.SnapshotNames(vol("c2")); len(names) != 2 {
			t.Fatalf("snapshots %v, want s1 and s2", names)
		}
		err := d.ViewSnapshot(ctx, vol("c2"), "s1", func(dir string) error {
			got, err := os.ReadFile(filepath.Join(dir, "rootfs", "f"))
			if err == nil && string(got) != "s1" {
				t.Errorf("snapshot s1 holds %q", got)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("CutShortLeavesNothing", func(t *testing.T) {
		cut := []storage.VolumeStream{{R: bytes.NewReader(whole[:len(whole)/2])}}
		next := func() (storage.VolumeStream, error) {
			if len(cut) == 0 {
				return storage.VolumeStream{}, io.EOF
			}
			s := cut[0]
			cut = cut[1:]
			return s, nil
		}
		if err := st.ReceiveStreams(ctx, vol("c3"), next, func(string, string) error { return nil }); err == nil {
			t.Fatal("a stream cut short was received")
		}
		if _, err := os.Lstat(d.VolumePath(vol("c3"))); !os.IsNotExist(err) {
			t.Fatalf("a failed receive left the volume: %v", err)
		}
		if left, _ := d.RemoveLeftovers(); len(left) != 0 {
			t.Fatalf("a failed receive left %v", left)
		}
	})
}
