package daemon

import (
	"bytes"
	"net/http"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/project"
)

// The instance's image metadata and templates (container_edit_metadata):
// lxc config metadata show|edit, lxc config template list|show|create|
// edit|delete.

func instanceMetadataGet(d *Daemon, r *http.Request) response {
	md, err := d.Instances.Metadata(instanceKey(r))
	if err != nil {
		return fail(err)
	}
	if md.Properties == nil {
		md.Properties = map[string]string{}
	}
	if md.Templates == nil {
		md.Templates = map[string]*api.ImageMetadataTemplate{}
	}
	return ok(md)
}

func instanceMetadataPut(d *Daemon, r *http.Request) response {
	var md api.ImageMetadata
	if err := decode(r, &md); err != nil {
		return fail(err)
	}
	if err := d.Instances.SetMetadata(instanceKey(r), md); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("instance-metadata-updated", project.URL(requestProject(r), instanceURL(r.PathValue("name"))), nil)
	return empty()
}

// instanceTemplatesGet lists the template files, or with ?path= sends one.
func instanceTemplatesGet(d *Daemon, r *http.Request) response {
	name := r.URL.Query().Get("path")
	if name == "" {
		list, err := d.Instances.Templates(instanceKey(r))
		if err != nil {
			return fail(err)
		}
		return ok(list)
	}
	data, err := d.Instances.Template(instanceKey(r), name)
	if err != nil {
		return fail(err)
	}
	return rawResp(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", "inline;filename="+name)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
}

// instanceTemplatePost creates or replaces the template file ?path=
// names with the body.
func instanceTemplatePost(d *Daemon, r *http.Request) response {
	if err := d.Instances.SetTemplate(instanceKey(r), r.URL.Query().Get("path"), r.Body); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("instance-metadata-template-created", project.URL(requestProject(r), instanceURL(r.PathValue("name"))), map[string]any{"path": r.URL.Query().Get("path")})
	return empty()
}

func instanceTemplateDelete(d *Daemon, r *http.Request) response {
	if err := d.Instances.DeleteTemplate(instanceKey(r), r.URL.Query().Get("path")); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("instance-metadata-template-deleted", project.URL(requestProject(r), instanceURL(r.PathValue("name"))), map[string]any{"path": r.URL.Query().Get("path")})
	return empty()
}
