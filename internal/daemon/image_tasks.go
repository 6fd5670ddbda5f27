package daemon

import (
	"context"
	"strconv"
	"time"
)

// The image cache's upkeep, as LXD's: cached images (pulled for a
// launch) go after images.remote_cache_expiry days unused, and images
// with auto_update are refreshed from their source every
// images.auto_update_interval hours.

// RunImageTasks does the upkeep until ctx ends, looking every tick.
func (d *Daemon) RunImageTasks(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastRefresh time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.expireCachedImages(now)
			hours, _ := strconv.Atoi(d.configValue("images.auto_update_interval", "6"))
			if hours > 0 && now.Sub(lastRefresh) >= time.Duration(hours)*time.Hour {
				lastRefresh = now
				d.refreshImages(ctx)
			}
		}
	}
}

func (d *Daemon) expireCachedImages(now time.Time) {
	days, _ := strconv.Atoi(d.configValue("images.remote_cache_expiry", "10"))
	if days <= 0 {
		return
	}
	gone, err := d.Images.ExpireCached(now, time.Duration(days)*24*time.Hour)
	for _, fp := range gone {
		d.Log.Info("cached image expired", "image", fp)
		d.Bus.Lifecycle("image-deleted", "/1.0/images/"+fp, nil)
	}
	if err != nil {
		d.Log.Warn("expire cached images", "err", err)
	}
}

func (d *Daemon) refreshImages(ctx context.Context) {
	list, err := d.Images.AutoUpdating()
	if err != nil {
		d.Log.Warn("list auto-updating images", "err", err)
		return
	}
	for _, img := range list {
		fp, err := d.Images.Refresh(ctx, img[0], img[1], nil)
		switch {
		case err != nil:
			d.Log.Warn("refresh image", "image", img[1], "err", err)
		case fp != img[1]:
			d.Log.Info("image refreshed", "image", img[1], "now", fp)
			d.Bus.Lifecycle("image-refreshed", "/1.0/images/"+fp, nil)
		}
	}
}
