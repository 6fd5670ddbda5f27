package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/store"
)

// maxJSONBody bounds request bodies other than image uploads.
const maxJSONBody = 4 << 20

// response is what a handler returns; the wrapper writes it.
type response interface {
	write(w http.ResponseWriter)
}

type syncResp struct {
	status   int
	metadata any
	etag     uint64
	location string
}

func (s syncResp) write(w http.ResponseWriter) {
	md, err := json.Marshal(s.metadata)
	if err != nil {
		errResp{err}.write(w)
		return
	}
	if s.etag != 0 {
		w.Header().Set("ETag", store.ETag(s.etag))
	}
	if s.location != "" {
		w.Header().Set("Location", s.location)
	}
	status := s.status
	if status == 0 {
		status = http.StatusOK
	}
	writeJSON(w, status, api.Response{Type: api.SyncResponse, Status: "Success", StatusCode: api.Success, Metadata: md})
}

// ok is a sync response.
func ok(metadata any) response { return syncResp{metadata: metadata} }

// okETag is a sync response with an ETag.
func okETag(metadata any, rev uint64) response { return syncResp{metadata: metadata, etag: rev} }

// empty is the sync response of a change that returns nothing.
func empty() response { return syncResp{metadata: map[string]any{}} }

type asyncResp struct{ op *operation.Op }

func (a asyncResp) write(w http.ResponseWriter) {
	md, _ := json.Marshal(a.op.Render())
	w.Header().Set("Location", a.op.URL())
	writeJSON(w, http.StatusAccepted, api.Response{Type: api.AsyncResponse, Status: "Operation created",
		StatusCode: api.OperationCreated, Operation: a.op.URL(), Metadata: md})
}

type errResp struct{ err error }

func (e errResp) write(w http.ResponseWriter) {
	code := apierr.Status(e.err)
	writeJSON(w, code, api.Response{Type: api.ErrorResponse, Error: e.err.Error(), ErrorCode: code, Metadata: json.RawMessage("null")})
}

func fail(err error) response { return errResp{err} }

// rawResp writes a body of its own (exports, log files).
type rawResp func(w http.ResponseWriter)

func (r rawResp) write(w http.ResponseWriter) { r(w) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "err", err)
	}
}

// decode reads a JSON body into v with a size bound.
func decode(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, maxJSONBody)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body is larger than %d bytes: %w", maxJSONBody, apierr.ErrTooLarge)
		}
		return apierr.BadRequest("read request body: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return apierr.BadRequest("request body is not valid JSON for this endpoint: %v", err)
	}
	return nil
}

// ifMatch reads If-Match as a store revision.
func ifMatch(r *http.Request) (uint64, error) { return store.ParseETag(r.Header.Get("If-Match")) }

func recursion(r *http.Request) int {
	n, _ := strconv.Atoi(r.URL.Query().Get("recursion"))
	return n
}

// mergePatch adds the entries of patch[key] (when the PATCH body has it)
// to into: PATCH merges maps such as config and devices key by key.
func mergePatch[T any](patch map[string]json.RawMessage, key string, into map[string]T) error {
	raw, ok := patch[key]
	if !ok {
		return nil
	}
	var m map[string]T
	if err := json.Unmarshal(raw, &m); err != nil {
		return apierr.BadRequest("%s: %v", key, err)
	}
	for k, v := range m {
		into[k] = v
	}
	return nil
}

// putOrPatch applies a PUT (the body replaces the object, at the
// revision If-Match names, if any) or a PATCH (patchRecord: merged into
// the object as stored) through update.
func putOrPatch[T any](r *http.Request, get func() (T, uint64, error), merge func(*T, map[string]json.RawMessage) error, update func(T, uint64) error) error {
	if r.Method == http.MethodPatch {
		return patchRecord(r, get, merge, update)
	}
	var put T
	if err := decode(r, &put); err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	return update(put, rev)
}

// patchRecord applies a PATCH body to a record as stored. It reads the
// record and its revision, lets merge fold the body into it, and writes it
// back only at that revision; when another request changed the record
// meanwhile it reads and merges again, so concurrent PATCHes of different
// keys all land. A client's If-Match pins the revision instead: a change
// since the client read is its 412, as with PUT.
func patchRecord[T any](r *http.Request, get func() (T, uint64, error), merge func(*T, map[string]json.RawMessage) error, put func(T, uint64) error) error {
	var patch map[string]json.RawMessage
	if err := decode(r, &patch); err != nil {
		return err
	}
	pinned, err := ifMatch(r)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		cur, rev, err := get()
		if err != nil {
			return err
		}
		if pinned != 0 {
			rev = pinned
		}
		if err := merge(&cur, patch); err != nil {
			return err
		}
		err = put(cur, rev)
		if pinned != 0 || attempt == maxPatchAttempts || !errors.Is(err, apierr.ErrPreconditionFailed) {
			return err
		}
	}
}

// maxPatchAttempts bounds patchRecord's retries: each one means another
// writer's change landed, so only a record rewritten without pause runs
// out, and then the PATCH fails with the 412 rather than spin.
const maxPatchAttempts = 100

// dropEmptyValues removes the config keys that some clients send empty to
// unset them.
func dropEmptyValues(config map[string]string) {
	for k, v := range config {
		if v == "" {
			delete(config, k)
		}
	}
}

// replacePatch sets the fields the PATCH body names (targets are pointers).
func replacePatch(patch map[string]json.RawMessage, fields map[string]any) error {
	for field, target := range fields {
		if raw, ok := patch[field]; ok {
			if err := json.Unmarshal(raw, target); err != nil {
				return apierr.BadRequest("%s: %v", field, err)
			}
		}
	}
	return nil
}
