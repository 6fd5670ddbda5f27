package image

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
)

// Repair removes what imports cut short by a crash left: upload spools,
// half-unpacked volumes, and unpacked volumes or kept files without a
// record (a crash before the record was written). A volume that layered
// instances still use is only retired, as a delete would.
func (s *Service) Repair(log *slog.Logger) {
	recorded := map[string]bool{}
	_ = s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Images) {
			_, fp := project.SplitKey(k) // files and volumes are by fingerprint, shared by projects
			recorded[fp] = true
		}
		return nil
	})
	spools, _ := filepath.Glob(filepath.Join(s.dir, ".upload-*"))
	multiparts, _ := filepath.Glob(filepath.Join(s.dir, ".multipart-*"))
	publishes, _ := filepath.Glob(filepath.Join(s.dir, ".publish-*"))
	metas, _ := filepath.Glob(filepath.Join(s.dir, ".meta-*"))
	for _, f := range append(append(spools, multiparts...), append(publishes, metas...)...) {
		log.Warn("repair: removing an upload cut short", "file", f)
		_ = os.RemoveAll(f)
	}
	files, _ := os.ReadDir(s.dir)
	for _, f := range files {
		if fp := strings.TrimSuffix(f.Name(), ".rootfs"); !strings.HasPrefix(f.Name(), ".") && !recorded[fp] {
			log.Warn("repair: removing an image file without a record", "file", f.Name())
			_ = os.Remove(filepath.Join(s.dir, f.Name()))
		}
	}
	s.pools.Each(func(name string, pool storage.Driver, err error) {
		if err != nil {
			log.Error("repair: storage pool does not open", "pool", name, "err", err)
			return
		}
		volumes, err := pool.ImageVolumeNames()
		if err != nil {
			log.Error("repair: list image volumes", "pool", name, "err", err)
			return
		}
		for _, v := range volumes {
			if recorded[v] {
				continue
			}
			log.Warn("repair: removing an image volume without a record", "pool", name, "volume", v)
			if err := pool.DeleteImageVolume(v); err != nil {
				log.Error("repair: remove image volume", "pool", name, "volume", v, "err", err)
			}
		}
	})
}

// RecoverVolumes runs before the instances' volumes are mounted: pools
// that write image volumes back after making them finish what the last
// stop left, and unpack again, from the image files, the volumes a host
// crash may have cut short.
func (s *Service) RecoverVolumes(log *slog.Logger) {
	s.pools.Each(func(name string, pool storage.Driver, err error) {
		wb, ok := pool.(storage.ImageWriteback)
		if err != nil || !ok {
			return // Repair says why a pool does not open
		}
		unpackFor := func(fp string) (func(string) error, bool) { return s.unpackFromFiles(context.Background(), fp) }
		if err := wb.RecoverImageVolumes(unpackFor); err != nil {
			log.Error("repair: image volumes not written back before the host went down", "pool", name, "err", err)
		}
	})
}
