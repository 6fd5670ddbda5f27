package migration

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Conn is one migration websocket. Writes are serialized (gorilla allows
// one writer at a time); one reader at a time is the caller's rule.
type Conn struct {
	ws *websocket.Conn
	mu sync.Mutex
	// reader is the data message being read (Stream).
	reader io.Reader
}

// NewConn wraps a connected websocket.
func NewConn(ws *websocket.Conn) *Conn { return &Conn{ws: ws} }

// Send writes one protobuf message as one binary websocket message.
func (c *Conn) Send(msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws.WriteMessage(websocket.BinaryMessage, msg)
}

// Recv reads one protobuf message.
func (c *Conn) Recv() ([]byte, error) {
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	if mt != websocket.BinaryMessage {
		return nil, fmt.Errorf("%w: a text message on the control websocket", ErrMalformed)
	}
	return data, nil
}

// SendHeader and friends encode a message and send it.
func (c *Conn) SendHeader(h *Header) error { return c.Send(h.Marshal()) }

// RecvHeader reads a header.
func (c *Conn) RecvHeader() (*Header, error) {
	b, err := c.Recv()
	if err != nil {
		return nil, err
	}
	return UnmarshalHeader(b)
}

// SendControl ends the migration: success when err is nil, else its text.
func (c *Conn) SendControl(err error) error {
	msg := Control{Success: err == nil}
	if err != nil {
		msg.Message = err.Error()
	}
	return c.Send(msg.Marshal())
}

// RecvControl reads the other end's last word.
func (c *Conn) RecvControl() (Control, error) {
	b, err := c.Recv()
	if err != nil {
		return Control{}, err
	}
	return UnmarshalControl(b)
}

// Read reads the data stream: binary messages, up to the empty text
// message that ends one transfer (then io.EOF; the next Read starts the
// next transfer), as LXD's WebsocketIO.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.reader == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				return 0, io.EOF
			}
			c.reader = r
		}
		n, err := c.reader.Read(p)
		if err == io.EOF {
			c.reader = nil
			if n == 0 {
				continue
			}
			return n, nil
		}
		return n, err
	}
}

// Write sends p as one binary message.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.Send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close ends one transfer (an empty text message); the websocket stays.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, nil)
}

// Disconnect closes the websocket itself, for a failure: whatever reads
// or writes it returns at once.
func (c *Conn) Disconnect() {
	if c == nil {
		return
	}
	c.mu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadlineSoon())
	c.mu.Unlock()
	_ = c.ws.Close()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func deadlineSoon() time.Time { return time.Now().Add(time.Second) }
