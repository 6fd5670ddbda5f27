package daemon

import (
	"fmt"
	"net/http"

	"github.com/lodge-project/lodge/internal/apierr"
)

// Instance backups are not built yet. Listing answers with the (empty) set
// of backups, which lxc info asks for; creating one says so plainly.

func backupsGet(d *Daemon, r *http.Request) response {
	if _, _, err := d.Instances.Get(instanceKey(r)); err != nil {
		return fail(err)
	}
	return ok([]string{})
}

func backupsPost(d *Daemon, r *http.Request) response {
	return fail(fmt.Errorf("instance backups are not supported yet (use lodge copy or snapshots): %w", apierr.ErrNotImplemented))
}
