package daemon

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/operation"
)

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func operationsGet(d *Daemon, r *http.Request) response {
	byStatus := map[string][]any{}
	proj, all := requestProject(r), r.URL.Query().Get("all-projects") == "true"
	for _, op := range d.Ops.List() {
		if !all && op.Project() != proj {
			continue
		}
		o := op.Render()
		key := strings.ToLower(o.Status)
		if recursion(r) > 0 {
			byStatus[key] = append(byStatus[key], o)
		} else {
			byStatus[key] = append(byStatus[key], op.URL())
		}
	}
	return ok(byStatus)
}

func operationGet(d *Daemon, r *http.Request) response {
	op, err := d.Ops.Get(r.PathValue("id"))
	if err != nil {
		return fail(err)
	}
	if err := opVisible(r, op); err != nil {
		return fail(err)
	}
	return ok(op.Render())
}

func operationDelete(d *Daemon, r *http.Request) response {
	op, err := d.Ops.Get(r.PathValue("id"))
	if err != nil {
		return fail(err)
	}
	if err := opVisible(r, op); err != nil {
		return fail(err)
	}
	if err := op.Cancel(); err != nil {
		return fail(err)
	}
	return empty()
}

func operationWait(d *Daemon, r *http.Request) response {
	op, err := d.Ops.Get(r.PathValue("id"))
	if err != nil {
		return fail(err)
	}
	if err := opVisible(r, op); err != nil {
		return fail(err)
	}
	if !isTrusted(r) && !opSecretMatches(op, r.URL.Query().Get("secret")) {
		return fail(apierr.ErrForbidden)
	}
	timeout := time.Duration(-1)
	if t := r.URL.Query().Get("timeout"); t != "" {
		secs, err := strconv.Atoi(t)
		if err != nil {
			return fail(apierr.BadRequest("timeout %q is not a number of seconds", t))
		}
		if secs >= 0 {
			timeout = time.Duration(secs) * time.Second
		}
	}
	if err := op.Wait(r.Context(), timeout); err != nil {
		return fail(err)
	}
	return ok(op.Render())
}

func operationWebsocket(d *Daemon, r *http.Request) response {
	op, err := d.Ops.Get(r.PathValue("id"))
	if err != nil {
		return fail(err)
	}
	if op.Connect == nil {
		return fail(apierr.BadRequest("operation %s has no websockets", op.ID()))
	}
	return rawResp(func(w http.ResponseWriter) {
		if err := op.Connect(w, r, r.URL.Query().Get("secret")); err != nil {
			errResp{err}.write(w)
		}
	})
}

// eventsGet streams events as websocket text frames, filtered by ?type=.
func eventsGet(d *Daemon, r *http.Request) response {
	var types []string
	if t := r.URL.Query().Get("type"); t != "" {
		types = strings.Split(t, ",")
	}
	for _, t := range types {
		if t != "operation" && t != "lifecycle" && t != "logging" {
			return fail(apierr.BadRequest("unknown event type %q (operation, lifecycle or logging)", t))
		}
	}
	// Events of one project (?project=, else the default one), or of all
	// (?all-projects=true); logging events belong to none, and go to all.
	proj, all := requestProject(r), r.URL.Query().Get("all-projects") == "true"
	return rawResp(func(w http.ResponseWriter) {
		// Subscribe before the upgrade answers: a client that checks an
		// operation right after connecting must not miss its last event.
		sub := d.Bus.Subscribe(types)
		defer sub.Close()
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		gone := make(chan struct{})
		go func() { // notice the client leaving
			defer close(gone)
			for {
				if _, _, err := conn.NextReader(); err != nil {
					return
				}
			}
		}()
		for {
			select {
			case ev, ok := <-sub.C:
				if !ok {
					return
				}
				if !all && ev.Project != "" && ev.Project != proj {
					continue
				}
				if err := conn.WriteJSON(ev); err != nil {
					return
				}
			case <-gone:
				return
			case <-r.Context().Done():
				return
			}
		}
	})
}

// opSecretMatches says whether secret is the one in op's metadata: what
// lets a client the daemon does not trust wait for it (LXD's rule).
func opSecretMatches(op *operation.Op, secret string) bool {
	s, _ := op.Metadata()["secret"].(string)
	return s != "" && subtle.ConstantTimeCompare([]byte(s), []byte(secret)) == 1
}
