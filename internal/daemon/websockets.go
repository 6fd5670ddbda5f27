package daemon

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/internal/apierr"
)

// wsSet is the websockets of one operation (exec, console): each fd has a
// secret that the client presents to connect it; the session starts once
// every fd that is not optional is connected.
type wsSet struct {
	mu       sync.Mutex
	secrets  map[string]string // secret -> fd
	conns    map[string]*websocket.Conn
	optional map[string]bool
	ready    chan struct{}
}

// newWSSet makes secrets for fds and returns the set and the operation's
// "fds" metadata (fd -> secret).
func newWSSet(fds []string, optional ...string) (*wsSet, map[string]string) {
	s := &wsSet{secrets: map[string]string{}, conns: map[string]*websocket.Conn{}, optional: map[string]bool{}, ready: make(chan struct{})}
	for _, fd := range optional {
		s.optional[fd] = true
	}
	meta := map[string]string{}
	for _, fd := range fds {
		secret := newSecret()
		s.secrets[secret] = fd
		meta[fd] = secret
	}
	return s, meta
}

// connect upgrades a client's request for the fd its secret names.
func (s *wsSet) connect(w http.ResponseWriter, r *http.Request, secret string) error {
	s.mu.Lock()
	fd, known := s.secrets[secret]
	_, taken := s.conns[fd]
	s.mu.Unlock()
	if !known || taken {
		return fmt.Errorf("websocket secret is not valid for this operation: %w", apierr.ErrBadRequest)
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader has answered
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[fd] = conn
	for _, want := range s.secrets {
		if _, ok := s.conns[want]; !ok && !s.optional[want] {
			return nil
		}
	}
	select {
	case <-s.ready: // started already (a late optional fd)
	default:
		close(s.ready)
	}
	return nil
}

func (s *wsSet) conn(fd string) *websocket.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[fd]
}

// wait blocks until the session may start, giving the client 30 s.
func (s *wsSet) wait(ctx context.Context, what string) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		s.closeAll()
		return ctx.Err()
	case <-time.After(30 * time.Second):
		s.closeAll()
		return fmt.Errorf("%s: the client did not connect its websockets within 30s", what)
	}
}

func (s *wsSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = c.Close()
	}
}
