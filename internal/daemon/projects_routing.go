package daemon

import "net/http"

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

func (d *Daemon) imagesProject(r *http.Request) string {
	return d.featureProject(r, "features.images")
}

func (d *Daemon) profilesProject(r *http.Request) string {
	return d.featureProject(r, "features.profiles")
}

func (d *Daemon) volumesProject(r *http.Request) string {
	return d.featureProject(r, "features.storage.volumes")
}
