package daemon

import (
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/filter"
)

// warningsGet lists the warnings, of ?project= only when it is given, as
// URLs or (recursion) whole, filtered by ?filter= as LXD's lists are.
func warningsGet(d *Daemon, r *http.Request) response {
	proj := r.URL.Query().Get("project")
	ws, err := d.Warnings.List(proj)
	if err != nil {
		return fail(err)
	}
	ws, err = filterWarnings(r, ws)
	if err != nil {
		return fail(err)
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(ws))
		for _, w := range ws {
			urls = append(urls, "/1.0/warnings/"+w.UUID)
		}
		return ok(urls)
	}
	if ws == nil {
		ws = []api.Warning{}
	}
	return ok(ws)
}

func warningGet(d *Daemon, r *http.Request) response {
	w, err := d.Warnings.Get(r.PathValue("uuid"))
	if err != nil {
		return fail(err)
	}
	return ok(w)
}

// warningPut sets a warning's status: acknowledged, or new again.
func warningPut(d *Daemon, r *http.Request) response {
	var req api.WarningPut
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.Warnings.SetStatus(r.PathValue("uuid"), req.Status); err != nil {
		return fail(err)
	}
	return ok(nil)
}

func warningDelete(d *Daemon, r *http.Request) response {
	if err := d.Warnings.Delete(r.PathValue("uuid")); err != nil {
		return fail(err)
	}
	return ok(nil)
}

// filterWarnings keeps the warnings ?filter= matches (status eq new, ...).
func filterWarnings(r *http.Request, ws []api.Warning) ([]api.Warning, error) {
	f, err := filter.Parse(r.URL.Query().Get("filter"))
	if err != nil {
		return nil, apierr.BadRequest("%v", err)
	}
	out := ws[:0]
	for _, w := range ws {
		if f.Match(w) {
			out = append(out, w)
		}
	}
	return out, nil
}
