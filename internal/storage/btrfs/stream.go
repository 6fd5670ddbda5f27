package btrfs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// A send stream from a backup is untrusted: btrfs receive would follow a
// stream that names any subvolume of the filesystem, by uuid, as the
// parent of a snapshot or the source of a clone, and so copy another
// instance's files into the one being imported. checkStream passes a
// stream on command by command and stops it before a command that names a
// subvolume the import did not itself receive, a path that climbs out, or
// a second stream behind the first.

const (
	streamMagic   = "btrfs-stream\x00"
	maxCommandLen = 16 << 20

	cmdSubvol       = 1
	cmdSnapshot     = 2
	cmdLink         = 10
	cmdWrite        = 15
	cmdClone        = 16
	cmdEnd          = 21
	cmdEncodedWrite = 25

	attrUUID      = 1
	attrPath      = 15
	attrPathTo    = 16
	attrPathLink  = 17
	attrData      = 19
	attrCloneUUID = 20
	attrClonePath = 22
)

// uuid is a subvolume's uuid as streams carry it.
type uuid [16]byte

// String writes u as btrfs tools (and LXD's headers) do.
func (u uuid) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// streamCheck says which subvolumes a stream may name besides its own.
type streamCheck struct {
	// parent is asked about every uuid the stream names as a snapshot's
	// parent or a clone's source; it returns an error to refuse it.
	parent func(uuid) error
}

// copy passes the stream from r to w and returns the uuid the stream
// gives its subvolume (which receive records as its received uuid).
func (c streamCheck) copy(src io.Reader, dst io.Writer) (own uuid, err error) {
	// A stream is mostly small commands: buffered both ways, each is not
	// two reads and two writes of its own (r ends where the stream does,
	// so reading ahead takes nothing of what follows it).
	r := bufio.NewReaderSize(src, 1<<20)
	w := bufio.NewWriterSize(dst, 1<<20)
	head := make([]byte, len(streamMagic)+4)
	if _, err := io.ReadFull(r, head); err != nil {
		return own, fmt.Errorf("not a btrfs send stream: %w", err)
	}
	if string(head[:len(streamMagic)]) != streamMagic {
		return own, errors.New("not a btrfs send stream")
	}
	version := binary.LittleEndian.Uint32(head[len(streamMagic):])
	if version < 1 || version > 3 {
		return own, fmt.Errorf("btrfs send stream version %d is not supported", version)
	}
	if _, err := w.Write(head); err != nil {
		return own, err
	}
	var hdr [10]byte
	var buf []byte // each command's body in turn: passed on before the next is read
	for n := 0; ; n++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return own, fmt.Errorf("the stream is truncated: %w", err)
		}
		size := binary.LittleEndian.Uint32(hdr[0:4])
		cmd := binary.LittleEndian.Uint16(hdr[4:6])
		if size > maxCommandLen {
			return own, fmt.Errorf("stream command %d is %d bytes long", cmd, size)
		}
		if int(size) > cap(buf) {
			buf = make([]byte, size)
		}
		body := buf[:size]
		if _, err := io.ReadFull(r, body); err != nil {
			return own, fmt.Errorf("the stream is truncated: %w", err)
		}
		first := n == 0
		if (cmd == cmdSubvol || cmd == cmdSnapshot) != first {
			if first {
				return own, errors.New("the stream does not start with its subvolume")
			}
			return own, errors.New("the stream holds more than one subvolume")
		}
		attrs, err := parseAttrs(body, cmd, version)
		if err != nil {
			return own, fmt.Errorf("stream command %d: %w", cmd, err)
		}
		if err := c.command(cmd, attrs, &own); err != nil {
			return own, err
		}
		if _, err := w.Write(hdr[:]); err != nil {
			return own, err
		}
		if _, err := w.Write(body); err != nil {
			return own, err
		}
		if cmd == cmdEnd {
			break
		}
	}
	// Nothing may follow the end: receive would take it for the next
	// stream, and so for another subvolume.
	if n, _ := io.ReadFull(r, hdr[:1]); n != 0 {
		return own, errors.New("data follows the end of the stream")
	}
	return own, w.Flush()
}

// command checks one command's attributes.
func (c streamCheck) command(cmd uint16, attrs map[uint16][]byte, own *uuid) error {
	for _, a := range []uint16{attrPath, attrPathTo, attrClonePath} {
		if p, ok := attrs[a]; ok {
			if err := checkStreamPath(string(p)); err != nil {
				return err
			}
		}
	}
	// A hard link's target is a path in the subvolume; a symbolic link's
	// is only text, which nothing here follows.
	if p, ok := attrs[attrPathLink]; ok && cmd == cmdLink {
		if err := checkStreamPath(string(p)); err != nil {
			return err
		}
	}
	switch cmd {
	case cmdSubvol, cmdSnapshot:
		if p := string(attrs[attrPath]); strings.Contains(p, "/") || p == "" {
			return fmt.Errorf("the stream's subvolume name %q is not one name", p)
		}
		id, ok := attrUUIDOf(attrs, attrUUID)
		if !ok {
			return errors.New("the stream's subvolume has no uuid")
		}
		*own = id
		if cmd == cmdSnapshot {
			parent, ok := attrUUIDOf(attrs, attrCloneUUID)
			if !ok {
				return errors.New("the stream's snapshot names no parent")
			}
			return c.parent(parent)
		}
	case cmdClone:
		src, ok := attrUUIDOf(attrs, attrCloneUUID)
		if !ok {
			return errors.New("a clone in the stream names no source")
		}
		if src != *own {
			return c.parent(src)
		}
	}
	return nil
}

// parseAttrs reads a command's attributes. The data of a write is not
// kept: in version 2 streams it runs to the command's end, unsized.
func parseAttrs(body []byte, cmd uint16, version uint32) (map[uint16][]byte, error) {
	attrs := map[uint16][]byte{}
	for len(body) > 0 {
		if len(body) < 2 {
			return nil, errors.New("a cut attribute")
		}
		typ := binary.LittleEndian.Uint16(body)
		if typ == attrData && version >= 2 && (cmd == cmdWrite || cmd == cmdEncodedWrite) {
			return attrs, nil
		}
		if len(body) < 4 {
			return nil, errors.New("a cut attribute")
		}
		n := int(binary.LittleEndian.Uint16(body[2:]))
		if len(body) < 4+n {
			return nil, errors.New("an attribute longer than its command")
		}
		if typ != attrData {
			attrs[typ] = body[4 : 4+n]
		}
		body = body[4+n:]
	}
	return attrs, nil
}

func attrUUIDOf(attrs map[uint16][]byte, a uint16) (uuid, bool) {
	var id uuid
	v, ok := attrs[a]
	if !ok || len(v) != len(id) {
		return id, false
	}
	copy(id[:], v)
	return id, true
}

// checkStreamPath refuses a path that is absolute or climbs with "..":
// receive joins it to the directory it writes in.
func checkStreamPath(p string) error {
	if strings.HasPrefix(p, "/") || bytes.IndexByte([]byte(p), 0) >= 0 {
		return fmt.Errorf("the stream names path %q outside its subvolume", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("the stream names path %q outside its subvolume", p)
		}
	}
	if p != "" && path.Clean(p) != strings.TrimSuffix(p, "/") {
		return fmt.Errorf("the stream names path %q, which is not clean", p)
	}
	return nil
}
