package image

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/imageserver"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
)

// Refresh asks the server an image came from what its alias names now
// (lxc image refresh, and images.auto_update_interval). A newer image
// replaces it: it is downloaded, the aliases move to it, and the old one
// goes. It returns the fingerprint the image has after, the same when
// it was up to date.
func (s *Service) Refresh(ctx context.Context, proj, prefix string, progress func(string)) (string, error) {
	img, _, err := s.Get(proj, prefix)
	if err != nil {
		return "", err
	}
	from := img.UpdateSource
	if from == nil || from.Server == "" || from.Alias == "" {
		return "", apierr.BadRequest("image %s was not downloaded from a server by an alias: there is nothing to refresh it from", img.Fingerprint[:12])
	}
	src, err := s.Servers.Open(from.Protocol, from.Server, imageserver.Options{Certificate: from.Certificate})
	if err != nil {
		return "", err
	}
	found, err := src.Find(ctx, from.Alias, from.ImageType)
	if err != nil {
		return "", fmt.Errorf("refresh image %s: %w", img.Fingerprint[:12], err)
	}
	if found.Fingerprint == img.Fingerprint {
		return img.Fingerprint, nil
	}
	fresh, err := s.fetch(ctx, Pull{Project: proj, Source: *from, Ref: from.Alias, Options: imageserver.Options{Certificate: from.Certificate},
		Cached: img.Cached, Public: img.Public, AutoUpdate: img.AutoUpdate, Progress: progress}, src, found)
	if err != nil {
		return "", err
	}
	if err := s.moveAliases(proj, img.Fingerprint, fresh.Fingerprint); err != nil {
		return "", err
	}
	if err := s.Delete(proj, img.Fingerprint); err != nil && !errors.Is(err, apierr.ErrNotFound) {
		return "", fmt.Errorf("remove image %s, replaced by %s: %w", img.Fingerprint[:12], fresh.Fingerprint[:12], err)
	}
	return fresh.Fingerprint, nil
}

// moveAliases points project proj's aliases of image from at image to.
func (s *Service) moveAliases(proj, from, to string) error {
	return s.db.Update(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Aliases) {
			if !project.InProject(k, proj) {
				continue
			}
			var a api.ImageAliasesEntry
			rev, err := tx.Get(store.Aliases, k, &a)
			if err != nil {
				return err
			}
			if a.Target != from {
				continue
			}
			a.Target = to
			if _, err := tx.Put(store.Aliases, k, a, rev); err != nil {
				return err
			}
		}
		return nil
	})
}

// AutoUpdating are the images of every project that refresh themselves,
// as project and fingerprint.
func (s *Service) AutoUpdating() ([][2]string, error) {
	var out [][2]string
	err := s.each(func(proj string, rec Record) {
		if rec.AutoUpdate && rec.UpdateSource != nil {
			out = append(out, [2]string{proj, rec.Fingerprint})
		}
	})
	return out, err
}

// ExpireCached removes the cached images (pulled for a launch) unused for
// maxAge at now: since the last instance was made from them, or since
// they came when none was.
func (s *Service) ExpireCached(now time.Time, maxAge time.Duration) ([]string, error) {
	var doomed [][2]string
	err := s.each(func(proj string, rec Record) {
		used := rec.LastUsedAt
		if used.IsZero() {
			used = rec.UploadedAt
		}
		if rec.Cached && now.Sub(used) > maxAge {
			doomed = append(doomed, [2]string{proj, rec.Fingerprint})
		}
	})
	if err != nil {
		return nil, err
	}
	var gone []string
	var errs []error
	for _, d := range doomed {
		if err := s.Delete(d[0], d[1]); err != nil && !errors.Is(err, apierr.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, d[1])
	}
	return gone, errors.Join(errs...)
}

// each calls fn with every image record and its project.
func (s *Service) each(fn func(proj string, rec Record)) error {
	return s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Images) {
			var rec Record
			if _, err := tx.Get(store.Images, k, &rec); err != nil {
				return err
			}
			proj, _ := project.SplitKey(k)
			fn(proj, rec)
		}
		return nil
	})
}
