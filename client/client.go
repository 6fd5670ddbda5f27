// Package client is a small Go client for Lodge's (and LXD's) REST API,
// over the unix socket or HTTPS.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/api"
)

// Client talks to one daemon.
type Client struct {
	// base is where paths are appended: http://lodge over the socket.
	base string
	// where names the daemon in errors.
	where string
	http  *http.Client
	// dialer opens websockets the way http reaches the daemon.
	dialer websocket.Dialer
	// Project, when set, is the project every request acts in
	// (?project=, as lxc --project sends it).
	Project string
}

// url is the full URL of path, in the client's project.
func (c *Client) url(path string) string {
	if c.Project == "" || !strings.HasPrefix(path, "/1.0") || strings.Contains(path, "project=") {
		return c.base + path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return c.base + path + sep + "project=" + url.QueryEscape(c.Project)
}

// New connects to the daemon's unix socket.
func New(socket string) *Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}
	return &Client{base: "http://lodge", where: "lodged at " + socket + " (is it running?)",
		http:   &http.Client{Transport: &http.Transport{DialContext: dial}},
		dialer: websocket.Dialer{NetDialContext: dial, HandshakeTimeout: 10 * time.Second}}
}

// NewHTTPS reaches a daemon at url (https://host:port) through transport,
// whose TLS config says which server certificate to accept and which
// client certificate to present.
func NewHTTPS(url string, transport *http.Transport) *Client {
	return &Client{base: strings.TrimSuffix(url, "/"), where: url,
		http:   &http.Client{Transport: transport},
		dialer: websocket.Dialer{NetDialContext: transport.DialContext, TLSClientConfig: transport.TLSClientConfig, HandshakeTimeout: 10 * time.Second}}
}

// unreachable is the error of a request that did not get an answer.
func (c *Client) unreachable(err error) error {
	return fmt.Errorf("cannot reach %s: %w", c.where, err)
}

// Error is an error response from the daemon.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// Raw sends a request with a body of its own and decodes the envelope.
func (c *Client) Raw(method, path string, body io.Reader, header http.Header) (*api.Response, string, error) {
	return c.RawContext(context.Background(), method, path, body, header)
}

// RawContext is Raw, given up when ctx ends.
func (c *Client) RawContext(ctx context.Context, method, path string, body io.Reader, header http.Header) (*api.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), body)
	if err != nil {
		return nil, "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", c.unreachable(err)
	}
	defer resp.Body.Close()
	var env api.Response
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, "", fmt.Errorf("%s %s: unreadable response (status %d): %w", method, path, resp.StatusCode, err)
	}
	if env.Type == api.ErrorResponse {
		return &env, "", &Error{Status: env.ErrorCode, Message: env.Error}
	}
	return &env, resp.Header.Get("ETag"), nil
}

// Query sends body as JSON; etag, when set, goes in If-Match.
func (c *Client) Query(method, path string, body any, etag string) (*api.Response, string, error) {
	var r io.Reader
	h := http.Header{}
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, "", err
		}
		r = bytes.NewReader(data)
		h.Set("Content-Type", "application/json")
	}
	if etag != "" {
		h.Set("If-Match", etag)
	}
	return c.Raw(method, path, r, h)
}

// Get decodes a sync response's metadata into out and returns the ETag.
func (c *Client) Get(path string, out any) (string, error) {
	resp, etag, err := c.Query("GET", path, nil, "")
	if err != nil {
		return "", err
	}
	return etag, json.Unmarshal(resp.Metadata, out)
}

// Do sends a request and, when it starts an operation, waits for it.
func (c *Client) Do(method, path string, body any, etag string) (*api.Operation, error) {
	resp, _, err := c.Query(method, path, body, etag)
	if err != nil {
		return nil, err
	}
	return c.finish(resp)
}

func (c *Client) finish(resp *api.Response) (*api.Operation, error) {
	if resp.Type != api.AsyncResponse {
		return nil, nil
	}
	return c.Wait(resp.Operation)
}

// DoProgress is Do, calling progress with the operation's metadata while
// it runs (a download's download_progress, say).
func (c *Client) DoProgress(method, path string, body any, progress func(map[string]any)) (*api.Operation, error) {
	resp, _, err := c.Query(method, path, body, "")
	if err != nil {
		return nil, err
	}
	if resp.Type != api.AsyncResponse {
		return nil, nil
	}
	return c.wait(resp.Operation, 1, progress)
}

// WaitProgress is Wait, calling progress with the operation's metadata
// while it runs.
func (c *Client) WaitProgress(opURL string, progress func(map[string]any)) (*api.Operation, error) {
	return c.wait(opURL, 1, progress)
}

// Wait blocks until an operation ends and returns it; a failed operation is an error.
func (c *Client) Wait(opURL string) (*api.Operation, error) {
	return c.wait(opURL, 30, nil)
}

// WaitSecret waits for an operation as a client the daemon does not
// trust: secret is the one in the operation's metadata (a pushed
// image's upload).
func (c *Client) WaitSecret(opURL, secret string) (*api.Operation, error) {
	var op api.Operation
	if _, err := c.Get(opURL+"/wait?timeout=-1&secret="+url.QueryEscape(secret), &op); err != nil {
		return nil, err
	}
	if op.StatusCode != api.Success {
		return &op, &Error{Status: 400, Message: op.Err}
	}
	return &op, nil
}

// wait polls an operation every timeout seconds at most, telling
// progress (when set) its metadata between polls, until it ends.
func (c *Client) wait(opURL string, timeout int, progress func(map[string]any)) (*api.Operation, error) {
	for {
		var op api.Operation
		if _, err := c.Get(fmt.Sprintf("%s/wait?timeout=%d", opURL, timeout), &op); err != nil {
			return nil, err
		}
		switch op.StatusCode {
		case api.Success:
			return &op, nil
		case api.Failure, api.Cancelled:
			return &op, &Error{Status: 400, Message: op.Err}
		}
		if progress != nil {
			progress(op.Metadata)
		}
	}
}

// Websocket connects to a daemon websocket path.
func (c *Client) Websocket(path string) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(c.url(path), "http")
	conn, _, err := c.dialer.Dial(u, nil)
	return conn, err
}

// OperationWebsocket connects to one of an operation's websockets.
func (c *Client) OperationWebsocket(opURL, secret string) (*websocket.Conn, error) {
	return c.Websocket(opURL + "/websocket?secret=" + url.QueryEscape(secret))
}

// GetRaw fetches a path whose body is not an envelope (files, logs,
// exports); an error envelope becomes an error.
func (c *Client) GetRaw(path string) (io.ReadCloser, error) {
	body, _, err := c.GetRawWithHeader(path)
	return body, err
}

// GetRawWithHeader is GetRaw with the response's header (an export's
// Content-Type and Content-Disposition).
func (c *Client) GetRawWithHeader(path string) (io.ReadCloser, http.Header, error) {
	resp, err := c.http.Get(c.url(path))
	if err != nil {
		return nil, nil, c.unreachable(err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		var env api.Response
		if json.NewDecoder(resp.Body).Decode(&env) == nil && env.Error != "" {
			return nil, nil, &Error{Status: resp.StatusCode, Message: env.Error}
		}
		return nil, nil, &Error{Status: resp.StatusCode, Message: resp.Status}
	}
	return resp.Body, resp.Header, nil
}

// FileInfo is what the X-LXD-* headers say about a file.
type FileInfo struct {
	UID, GID int64
	Mode     uint32
	Type     string
	Entries  []string
}

// GetFile reads a path inside an instance: a file's body, or a directory's entries.
func (c *Client) GetFile(instance, path string) (FileInfo, io.ReadCloser, error) {
	resp, err := c.http.Get(c.url("/1.0/instances/" + instance + "/files?path=" + url.QueryEscape(path)))
	if err != nil {
		return FileInfo{}, nil, c.unreachable(err)
	}
	info := FileInfo{Type: resp.Header.Get("X-LXD-type")}
	info.UID, _ = strconv.ParseInt(resp.Header.Get("X-LXD-uid"), 10, 64)
	info.GID, _ = strconv.ParseInt(resp.Header.Get("X-LXD-gid"), 10, 64)
	mode, _ := strconv.ParseUint(resp.Header.Get("X-LXD-mode"), 8, 32)
	info.Mode = uint32(mode)
	if resp.StatusCode >= 400 || info.Type == "directory" {
		defer resp.Body.Close()
		var env api.Response
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			return info, nil, fmt.Errorf("read %s: status %d", path, resp.StatusCode)
		}
		if env.Type == api.ErrorResponse {
			return info, nil, &Error{Status: env.ErrorCode, Message: env.Error}
		}
		return info, nil, json.Unmarshal(env.Metadata, &info.Entries)
	}
	return info, resp.Body, nil
}

// PutFile writes a file ("file"), makes a directory or a symlink (body is
// the target). uid/gid -1 leave the daemon's default.
func (c *Client) PutFile(instance, path, typ string, uid, gid int64, mode uint32, appendTo bool, body io.Reader) error {
	h := http.Header{}
	h.Set("X-LXD-type", typ)
	h.Set("X-LXD-uid", strconv.FormatInt(uid, 10))
	h.Set("X-LXD-gid", strconv.FormatInt(gid, 10))
	if mode != 0 {
		h.Set("X-LXD-mode", fmt.Sprintf("%04o", mode))
	}
	h.Set("X-LXD-write", "overwrite")
	if appendTo {
		h.Set("X-LXD-write", "append")
	}
	if body == nil {
		body = bytes.NewReader(nil)
	}
	_, _, err := c.Raw("POST", "/1.0/instances/"+instance+"/files?path="+url.QueryEscape(path), body, h)
	return err
}
