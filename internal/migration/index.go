package migration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/lodge-project/lodge/internal/backup"
)

// IndexHeaderVersion is the index header Lodge speaks (LXD 5.0.2's).
const IndexHeaderVersion uint32 = 1

// Info is the index header: the instance's backup.yaml, sent first on
// the fs websocket when both ends offer it.
type Info struct {
	Config *backup.Config `json:"config,omitempty"`
}

// infoResponse is the target's answer to the index header, in LXD's JSON
// (fields named as in Go).
type infoResponse struct {
	StatusCode int
	Error      string
	Refresh    *bool
}

// maxIndexHeader bounds what a target reads of an index header: an
// instance's config and its snapshots' fit many times over.
const maxIndexHeader = 64 << 20

// sendIndex sends the index header and reads the target's answer: whether
// it refreshes an instance it has.
func sendIndex(fs io.ReadWriteCloser, info Info) (refresh *bool, err error) {
	data, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	if _, err := fs.Write(data); err != nil {
		return nil, fmt.Errorf("send the index header: %w", err)
	}
	if err := fs.Close(); err != nil {
		return nil, fmt.Errorf("send the index header: %w", err)
	}
	var resp infoResponse
	if err := readJSONFrame(fs, &resp); err != nil {
		return nil, fmt.Errorf("the target's answer to the index header: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the target refused the index header: %s", resp.Error)
	}
	return resp.Refresh, nil
}

// receiveIndex reads the index header and answers it.
func receiveIndex(fs io.ReadWriteCloser, refresh bool) (*Info, error) {
	var info Info
	if err := readJSONFrame(fs, &info); err != nil {
		return nil, fmt.Errorf("the index header: %w", err)
	}
	data, _ := json.Marshal(infoResponse{StatusCode: http.StatusOK, Refresh: &refresh})
	if _, err := fs.Write(data); err != nil {
		return nil, err
	}
	return &info, fs.Close()
}

// readJSONFrame reads one transfer (up to its end mark) as JSON.
func readJSONFrame(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, maxIndexHeader+1))
	if err != nil {
		return err
	}
	if len(data) > maxIndexHeader {
		return fmt.Errorf("%w: more than %d bytes", ErrMalformed, maxIndexHeader)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// onlySnapshots is cfg with only the snapshots named (a refresh's).
func onlySnapshots(cfg *backup.Config, names []string) *backup.Config {
	if cfg == nil {
		return nil
	}
	out := *cfg
	out.Snapshots, out.VolumeSnapshots = nil, nil
	for _, sn := range cfg.Snapshots {
		if sn != nil && slices.Contains(names, sn.Name) {
			out.Snapshots = append(out.Snapshots, sn)
		}
	}
	for _, sn := range cfg.VolumeSnapshots {
		if sn != nil && slices.Contains(names, sn.Name) {
			out.VolumeSnapshots = append(out.VolumeSnapshots, sn)
		}
	}
	return &out
}
