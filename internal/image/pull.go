package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/imageserver"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
)

// Pull is an image to download from another server.
type Pull struct {
	Project string
	// Source says where: server, protocol, and the alias (Ref when no
	// alias) there.
	Source api.ImageSource
	// Ref is the alias or fingerprint asked for.
	Ref     string
	Options imageserver.Options
	// Cached marks an image pulled for a launch, which expires unused.
	Cached, Public, AutoUpdate bool
	// Defer leaves the unpacking to the first launch (Upload.Defer).
	Defer bool
	// Progress hears how far the download is, as LXD words it
	// ("45% (12.3MB/s)").
	Progress func(text string)
}

// Pull downloads an image from another server, unless project p.Project
// has it already, and returns it. Two pulls of one image at once download
// it once: the second waits and finds it.
func (s *Service) Pull(ctx context.Context, p Pull) (api.Image, error) {
	src, err := s.Servers.Open(p.Source.Protocol, p.Source.Server, p.Options)
	if err != nil {
		return api.Image{}, err
	}
	found, err := src.Find(ctx, p.Ref, p.Source.ImageType)
	if err != nil {
		return api.Image{}, err
	}
	return s.fetch(ctx, p, src, found)
}

// fetch downloads the image found on src, unless it is here already.
func (s *Service) fetch(ctx context.Context, p Pull, src imageserver.Source, found imageserver.Found) (api.Image, error) {
	fp := found.Fingerprint
	defer s.downloading.Lock(fp)()
	if img, _, err := s.Get(p.Project, fp); err == nil {
		return img, nil
	} else if !errors.Is(err, apierr.ErrNotFound) {
		return api.Image{}, err
	}
	files, err := src.Fetch(ctx, found)
	if err != nil {
		return api.Image{}, err
	}
	defer files.Close()
	progress := &progressReader{size: files.Size, report: p.Progress}
	up := Upload{Project: p.Project, Filename: found.Image.Filename, Public: p.Public, Properties: found.Image.Properties,
		Expect: fp, Cached: p.Cached, AutoUpdate: p.AutoUpdate, Defer: p.Defer}
	if p.Cached || p.AutoUpdate {
		source := p.Source
		if source.Alias == "" {
			source.Alias = p.Ref
		}
		up.Source = &source
	}
	if files.Unified != nil {
		up.Unified = progress.wrap(files.Unified)
	} else {
		up.Meta, up.Rootfs = progress.wrap(files.Meta), progress.wrap(files.Rootfs)
	}
	img, err := s.Import(ctx, up)
	if err != nil {
		return api.Image{}, fmt.Errorf("download image %s from %s: %w", fp[:12], p.Source.Server, err)
	}
	return img, nil
}

// Touch records that an instance was made from image fp of project proj:
// a cached image expires counting from then.
func (s *Service) Touch(proj, fp string) error {
	return s.db.Update(func(tx *store.Tx) error {
		var rec Record
		key := project.StoreKey(proj, fp)
		rev, err := tx.Get(store.Images, key, &rec)
		if err != nil {
			return err
		}
		rec.LastUsedAt = time.Now().UTC()
		_, err = tx.Put(store.Images, key, rec, rev)
		return err
	})
}

// progressReader counts the bytes of a download and tells how far it is,
// twice a second at most.
type progressReader struct {
	size, done int64
	start      time.Time
	last       time.Time
	report     func(string)
}

func (p *progressReader) wrap(r io.Reader) io.Reader {
	if p.report == nil {
		return r
	}
	return readerFunc(func(b []byte) (int, error) {
		if p.start.IsZero() {
			p.start = time.Now()
		}
		n, err := r.Read(b)
		p.done += int64(n)
		// One reader at a time: the spool reads the parts in turn. The
		// end is told too: a download shorter than the interval would
		// show only its first 0%.
		if now := time.Now(); now.Sub(p.last) > 500*time.Millisecond || (err == io.EOF && p.done == p.size) {
			p.last = now
			p.report(p.text())
		}
		return n, err
	})
}

func (p *progressReader) text() string {
	secs := time.Since(p.start).Seconds()
	speed := int64(0)
	if secs > 0 {
		speed = int64(float64(p.done) / secs)
	}
	if p.size > 0 {
		return fmt.Sprintf("%d%% (%s/s)", p.done*100/p.size, byteSize(speed))
	}
	return fmt.Sprintf("%s (%s/s)", byteSize(p.done), byteSize(speed))
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// byteSize writes n as LXD does: 12.34MB.
func byteSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v := float64(n)
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.2f%s", v, units[i])
}
