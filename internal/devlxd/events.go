package devlxd

import (
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/api"
)

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// events streams config (user.* keys) and device changes of the
// instance as LXD's guest API does: it follows the daemon's lifecycle
// events and sends what changed since the instance was last read.
func (s *Server) events(w http.ResponseWriter, r *http.Request, key string) {
	want := map[string]bool{"config": true, "device": true}
	if t := r.URL.Query().Get("type"); t != "" {
		want = map[string]bool{}
		for _, x := range strings.Split(t, ",") {
			want[strings.TrimSpace(x)] = true
		}
	}
	before, ok := s.info(w, key)
	if !ok {
		return
	}
	sub := s.bus.Subscribe([]string{"lifecycle"})
	defer sub.Close()
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	// The reader notices the guest closing the socket.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	send := func(typ string, md any) bool {
		return conn.WriteJSON(api.Event{Type: typ, Timestamp: time.Now(), Metadata: md}) == nil
	}
	for {
		select {
		case <-gone:
			return
		case <-r.Context().Done():
			return
		case ev, open := <-sub.C:
			if !open {
				return
			}
			lc, _ := ev.Metadata.(api.EventLifecycle)
			if !strings.HasPrefix(lc.Action, "instance-updated") && !strings.HasPrefix(lc.Action, "profile-updated") {
				continue
			}
			after, err := s.src.DevLXDInfo(key)
			if err != nil {
				return // deleted
			}
			if want["config"] {
				for _, c := range configChanges(before.Config, after.Config) {
					if !send("config", c) {
						return
					}
				}
			}
			if want["device"] {
				for _, c := range deviceChanges(before.Devices, after.Devices) {
					if !send("device", c) {
						return
					}
				}
			}
			before = after
		}
	}
}

type configChange struct {
	Key      string `json:"key"`
	OldValue string `json:"old_value"`
	Value    string `json:"value"`
}

// configChanges are the user.* keys that differ between two configs.
func configChanges(old, cur map[string]string) []configChange {
	var out []configChange
	for k, v := range cur {
		if strings.HasPrefix(k, "user.") && old[k] != v {
			out = append(out, configChange{Key: k, OldValue: old[k], Value: v})
		}
	}
	for k, v := range old {
		if _, still := cur[k]; strings.HasPrefix(k, "user.") && !still {
			out = append(out, configChange{Key: k, OldValue: v})
		}
	}
	return out
}

type deviceChange struct {
	Name   string            `json:"name"`
	Action string            `json:"action"`
	Config map[string]string `json:"config"`
}

// deviceChanges are the devices added, removed or changed.
func deviceChanges(old, cur map[string]map[string]string) []deviceChange {
	var out []deviceChange
	for n, d := range cur {
		switch o, had := old[n]; {
		case !had:
			out = append(out, deviceChange{Name: n, Action: "added", Config: d})
		case !maps.Equal(o, d):
			out = append(out, deviceChange{Name: n, Action: "updated", Config: d})
		}
	}
	for n, d := range old {
		if _, still := cur[n]; !still {
			out = append(out, deviceChange{Name: n, Action: "removed", Config: d})
		}
	}
	return out
}
