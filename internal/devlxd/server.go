// Package devlxd serves /dev/lxd/sock, the guest API of LXD, inside each
// instance that has security.devlxd: the instance's user.* and
// cloud-init.* config, its devices, cloud-init meta-data, and events
// when they change. cloud-init's LXD datasource reads it.
//
// Each instance gets a socket of its own, in a host folder bind-mounted
// at /dev/lxd: the socket it connected to says which instance asks, and
// the peer's credentials must also show a process of that instance (its
// PID namespace), so no host process reads an instance's config through
// it. A folder, not the socket itself, is mounted, so the socket made
// anew after lodged restarts appears in running instances.
package devlxd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/event"
	"github.com/lodge-project/lodge/internal/instance/keys"
)

// Info is what the guest API serves of an instance.
type Info struct {
	Name, Type string
	// Config and Devices are the expanded ones.
	Config  map[string]string
	Devices map[string]map[string]string
	// CloudInitID is the instance id cloud-init is given.
	CloudInitID string
}

// Source finds an instance's Info by its key, and the PID of its init
// (0 when it is not running).
type Source interface {
	DevLXDInfo(key string) (Info, error)
	InitPID(key string) int
}

// Images exports the host's shared images to guests allowed to read
// them (security.devlxd.images): it writes image fp when a project has it
// public or cached, and says false when none has.
type Images interface {
	ExportShared(w http.ResponseWriter, fp string) bool
}

// Server keeps one listener per running instance.
type Server struct {
	dir    string // $LODGE_DIR/devlxd: one folder per instance
	src    Source
	bus    *event.Bus
	log    *slog.Logger
	images Images // nil: no image exports

	mu        sync.Mutex
	listeners map[string]*listener
}

type listener struct {
	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc
}

// NewServer serves instances' guest APIs from sockets under dir, with
// images (nil: none) for those with security.devlxd.images.
func NewServer(dir string, src Source, images Images, bus *event.Bus, log *slog.Logger) *Server {
	return &Server{dir: dir, src: src, images: images, bus: bus, log: log, listeners: map[string]*listener{}}
}

// Dir is the host folder to mount at /dev/lxd in the instance whose host
// name is host.
func (s *Server) Dir(host string) string { return filepath.Join(s.dir, host) }

// Start listens for the instance (key, host name host) on a fresh
// socket, replacing one an earlier lodged left. It returns the folder to
// mount at /dev/lxd.
func (s *Server) Start(key, host string) (string, error) {
	s.Stop(key)
	dir := s.Dir(host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	sock := filepath.Join(dir, "sock")
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", sock, err)
	}
	// Stop removes the socket itself: a listener closed late (its Serve
	// starting after the Close) must not unlink the next one's socket.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	// Any user of the instance may ask (as in LXD); the peer check keeps
	// the host's processes out.
	if err := os.Chmod(sock, 0o666); err != nil {
		ln.Close()
		return "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{ln: ln, cancel: cancel}
	l.srv = &http.Server{Handler: s.handler(key), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }}
	go func() {
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Debug("devlxd listener ended", "instance", key, "err", err)
		}
	}()
	s.mu.Lock()
	s.listeners[key] = l
	s.mu.Unlock()
	return dir, nil
}

// Stop closes the instance's listener and removes its socket.
func (s *Server) Stop(key string) {
	s.mu.Lock()
	l := s.listeners[key]
	delete(s.listeners, key)
	s.mu.Unlock()
	if l == nil {
		return
	}
	l.cancel()
	_ = l.srv.Close()
	_ = os.Remove(l.ln.Addr().String())
}

// Remove deletes the folder of an instance that is gone.
func (s *Server) Remove(host string) { _ = os.RemoveAll(s.Dir(host)) }

type connKey struct{}

// handler is the guest API of one instance.
func (s *Server) handler(key string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, []string{"/1.0"}) })
	mux.HandleFunc("GET /1.0", func(w http.ResponseWriter, r *http.Request) {
		in, ok := s.info(w, key)
		if ok {
			writeJSON(w, api.DevLXDGet{APIVersion: "1.0", InstanceType: in.Type, Location: "none"})
		}
	})
	mux.HandleFunc("GET /1.0/config", func(w http.ResponseWriter, r *http.Request) {
		in, ok := s.info(w, key)
		if !ok {
			return
		}
		out := []string{}
		for k := range in.Config {
			if exported(k) {
				out = append(out, "/1.0/config/"+k)
			}
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /1.0/config/{key}", func(w http.ResponseWriter, r *http.Request) {
		in, ok := s.info(w, key)
		if !ok {
			return
		}
		k := r.PathValue("key")
		if !exported(k) {
			http.Error(w, "not authorized", http.StatusForbidden)
			return
		}
		v, found := in.Config[k]
		if !found {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte(v))
	})
	mux.HandleFunc("GET /1.0/meta-data", func(w http.ResponseWriter, r *http.Request) {
		in, ok := s.info(w, key)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		fmt.Fprintf(w, "#cloud-config\ninstance-id: %s\nlocal-hostname: %s\n%s", in.CloudInitID, in.Name, in.Config["user.meta-data"])
	})
	mux.HandleFunc("GET /1.0/devices", func(w http.ResponseWriter, r *http.Request) {
		in, ok := s.info(w, key)
		if ok {
			writeJSON(w, in.Devices)
		}
	})
	mux.HandleFunc("GET /1.0/events", func(w http.ResponseWriter, r *http.Request) { s.events(w, r, key) })
	mux.HandleFunc("GET /1.0/images/{fingerprint}/export", func(w http.ResponseWriter, r *http.Request) {
		in, ok := s.info(w, key)
		if !ok {
			return
		}
		if !keys.Bool(in.Config, "security.devlxd.images") || s.images == nil {
			http.Error(w, "not authorized", http.StatusForbidden)
			return
		}
		if !s.images.ExportShared(w, r.PathValue("fingerprint")) {
			http.Error(w, "not found", http.StatusNotFound)
		}
	})
	return s.fromInstance(key, mux)
}

// exported says whether the guest may read config key k: user.* and
// cloud-init.* only, as in LXD.
func exported(k string) bool {
	return strings.HasPrefix(k, "user.") || strings.HasPrefix(k, "cloud-init.")
}

// info reads the instance, answering the request itself when it cannot
// or when security.devlxd was turned off since the start.
func (s *Server) info(w http.ResponseWriter, key string) (Info, bool) {
	in, err := s.src.DevLXDInfo(key)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return in, false
	}
	if !keys.Bool(in.Config, "security.devlxd") {
		http.Error(w, "not authorized", http.StatusForbidden)
		return in, false
	}
	return in, true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
