package daemon

import (
	"fmt"
	"net/http"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
)

// featureProject is the project whose set of feature (features.images,
// ...) a request uses: the project it names when that project has the
// feature, else the default project, as LXD routes them. Requests naming
// an unknown project never reach a handler.
func (d *Daemon) featureProject(r *http.Request, feature string) string {
	if d.Projects == nil {
		return requestProject(r)
	}
	p, err := d.Projects.Effective(requestProject(r), feature)
	if err != nil {
		return requestProject(r)
	}
	return p
}

// volumesProjectOf is where project proj's custom volumes are: its own
// with features.storage.volumes, else the default project's. A project
// that does not exist is a 404.
func (d *Daemon) volumesProjectOf(proj string) (string, error) {
	if d.Projects == nil {
		return proj, nil
	}
	return d.Projects.Effective(proj, "features.storage.volumes")
}

func (d *Daemon) imagesProject(r *http.Request) string {
	return d.featureProject(r, "features.images")
}

func (d *Daemon) profilesProject(r *http.Request) string {
	return d.featureProject(r, "features.profiles")
}

func (d *Daemon) volumesProject(r *http.Request) string {
	return d.featureProject(r, "features.storage.volumes")
}

// checkTarget refuses ?target= (a cluster member) as LXD does on a host
// that is not clustered; a restricted project that blocks targeting
// (restricted.cluster.target, blocked by default) gets LXD's 403 first.
func (d *Daemon) checkTarget(r *http.Request) error {
	if r.URL.Query().Get("target") == "" {
		return nil
	}
	if d.Projects != nil {
		if cfg, err := d.Projects.Config(requestProject(r)); err == nil && keys.IsTrue(cfg, "restricted") &&
			cfg["restricted.cluster.target"] != "allow" {
			return fmt.Errorf("this project does not allow cluster member targeting (restricted.cluster.target): %w", apierr.ErrForbidden)
		}
	}
	return apierr.BadRequest("target only allowed when clustered: this host is not part of a cluster")
}
