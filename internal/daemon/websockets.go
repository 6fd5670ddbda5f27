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
	reading  map[string]bool // fds a readLoop reads
	closing  bool
}

// closeLinger is how long a finished session's connections wait for the
// client to close them. lodged closes no exec websocket first: closing
// at once broke pylxd, which sends its close frames once it sees the
// operation end (a write to a closed socket), and any close frame or
// close from lodged could reach pylxd's websocket thread after pylxd had
// stopped it (it raised). The lxc client closes its end as it exits.
const closeLinger = 5 * time.Second

// newWSSet makes secrets for fds and returns the set and the operation's
// "fds" metadata (fd -> secret).
func newWSSet(fds []string, optional ...string) (*wsSet, map[string]string) {
	s := &wsSet{secrets: map[string]string{}, conns: map[string]*websocket.Conn{}, optional: map[string]bool{},
		ready: make(chan struct{}), reading: map[string]bool{}}
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
	// No close frame in answer to the client's (see closeLinger).
	conn.SetCloseHandler(func(int, string) error { return nil })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing { // the session is over: a late optional fd
		_ = conn.Close()
		return nil
	}
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

// closeAll ends the session's connections: each is closed once the client
// has closed its end (or closeLinger passed). The data websockets' ends
// were marked already (an empty text frame, as LXD clients expect).
func (s *wsSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.closing = true
	for fd, c := range s.conns {
		_ = c.SetReadDeadline(time.Now().Add(closeLinger))
		if !s.reading[fd] {
			go lingerClose(c)
		}
	}
}

// readLoop hands the fd's messages to handle until it returns false or the
// connection ends; only it reads the connection meanwhile.
func (s *wsSet) readLoop(fd string, handle func(messageType int, data []byte) bool) {
	s.mu.Lock()
	conn := s.conns[fd]
	if conn == nil || s.closing {
		s.mu.Unlock()
		return
	}
	s.reading[fd] = true
	s.mu.Unlock()
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil || !handle(mt, data) {
			break
		}
	}
	s.mu.Lock()
	delete(s.reading, fd)
	closing := s.closing
	s.mu.Unlock()
	if closing {
		lingerClose(conn)
	}
}

// lingerClose reads (and drops) what the client still sends, its close
// frame included, until the client closes the connection (or closeLinger
// passes), then closes it.
func lingerClose(c *websocket.Conn) {
	for {
		if _, _, err := c.NextReader(); err != nil {
			break
		}
	}
	buf := make([]byte, 512)
	for {
		if _, err := c.UnderlyingConn().Read(buf); err != nil {
			break
		}
	}
	_ = c.Close()
}
