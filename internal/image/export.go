package image

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"

	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
)

// WriteExport answers a request for image fp's files as LXD does: a
// unified image as one file, a split one as a multipart form of its
// metadata and rootfs (named meta-<fp><ext> and <fp><ext>). An error
// comes back only while nothing is written yet.
func WriteExport(w http.ResponseWriter, fp, meta, rootfs string) error {
	if rootfs == "" {
		f, err := os.Open(meta)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%s%s", fp, Extension(meta)))
		w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
		_, _ = io.Copy(w, f)
		return nil
	}
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", mw.FormDataContentType())
	for _, part := range []struct{ name, path, file string }{
		{"metadata", meta, "meta-" + fp + Extension(meta)},
		{"rootfs", rootfs, fp + Extension(rootfs)},
	} {
		pw, err := mw.CreateFormFile(part.name, part.file)
		if err != nil {
			return nil
		}
		f, err := os.Open(part.path)
		if err != nil {
			return nil
		}
		_, _ = io.Copy(pw, f)
		f.Close()
	}
	_ = mw.Close()
	return nil
}

// ExportShared writes image fp, named by its whole fingerprint, when a
// project has it public or cached: what a guest may fetch through its
// /dev/lxd (security.devlxd.images), as in LXD. False when none has.
func (s *Service) ExportShared(w http.ResponseWriter, fp string) bool {
	shared := false
	_ = s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Images) {
			if _, name := project.SplitKey(k); name != fp {
				continue
			}
			var rec Record
			if _, err := tx.Get(store.Images, k, &rec); err == nil && (rec.Public || rec.Cached) {
				shared = true
			}
		}
		return nil
	})
	if !shared {
		return false
	}
	meta, rootfs := s.Files(fp)
	if err := WriteExport(w, fp, meta, rootfs); err != nil {
		http.Error(w, "image files unreadable", http.StatusInternalServerError)
	}
	return true
}
