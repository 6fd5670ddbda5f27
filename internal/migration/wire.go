// Package migration speaks LXD's instance migration protocol: the
// protobuf messages on the control websocket, the framing of the data
// websockets, the index header, and the transfers (rsync, as LXD runs
// it, sandboxed here). The protocol's spec is LXD 5.0.2's
// lxd/migration/migrate.proto; the encoding here is written from it with
// protowire, so that no generated code is needed.
package migration

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// FSType is a transfer method for a volume (MigrationFSType).
type FSType int32

// The transfer methods LXD 5.0.2 names.
const (
	FSRsync         FSType = 0
	FSBtrfs         FSType = 1
	FSZfs           FSType = 2
	FSRbd           FSType = 3
	FSBlockAndRsync FSType = 4
)

func (t FSType) String() string {
	switch t {
	case FSRsync:
		return "RSYNC"
	case FSBtrfs:
		return "BTRFS"
	case FSZfs:
		return "ZFS"
	case FSRbd:
		return "RBD"
	case FSBlockAndRsync:
		return "BLOCK_AND_RSYNC"
	}
	return fmt.Sprintf("FSType(%d)", int32(t))
}

// CriuType is how a running instance's state travels (CRIUType).
type CriuType int32

// The CRIU modes: CriuNone marks a running instance copied statelessly.
const (
	CriuRsync CriuType = 0
	CriuPhaul CriuType = 1
	CriuNone  CriuType = 2
)

// IDMapEntry is one range of the map the sent files are on (IDMapType).
type IDMapEntry struct {
	IsUID, IsGID           bool
	HostID, NsID, MapRange int32
}

// Device is one device of a snapshot, as key/value config.
type Device struct {
	Name   string
	Config map[string]string
}

// Snapshot describes one snapshot sent.
type Snapshot struct {
	Name         string
	LocalConfig  map[string]string
	Profiles     []string
	Ephemeral    bool
	LocalDevices []Device
	Architecture int32
	Stateful     bool
	// Dates in Unix seconds; nil when not sent.
	CreationDate, LastUsedDate, ExpiryDate *int64
}

// RsyncFeatures are the rsync options both ends may use.
type RsyncFeatures struct {
	Xattrs, Delete, Compress, Bidirectional bool
}

// BtrfsFeatures are the btrfs send options both ends may use.
type BtrfsFeatures struct {
	MigrationHeader, HeaderSubvolumes, HeaderSubvolumeUUIDs bool
}

// Header is the offer (from the source) and the answer (from the
// target) on the control websocket (MigrationHeader).
type Header struct {
	FS                 FSType
	Criu               *CriuType
	IDMap              []IDMapEntry
	SnapshotNames      []string
	Snapshots          []Snapshot
	Predump            *bool
	Rsync              *RsyncFeatures
	Refresh            *bool
	VolumeSize         *int64
	Btrfs              *BtrfsFeatures
	IndexHeaderVersion *uint32
	// Lodge is Lodge's own offer, in a field LXD does not know (and
	// skips): transfers only two Lodge hosts speak.
	Lodge *LodgeFeatures
}

// LodgeFeatures name Lodge-only transfers: a Lodge target that sees them
// may answer with one (FS then stays what LXD would read).
type LodgeFeatures struct {
	// Field 1 is reserved: it was a tar stream never spoken, and an older
	// Lodge may still send it (false).

	// Stream names the storage driver whose own streams (btrfs send) the
	// volume and its snapshots travel as, when both pools are of it.
	Stream string
	// LinksAndACLs: rsync keeps hard links and POSIX ACLs too (LXD's
	// rsync options do neither).
	LinksAndACLs bool
	// StreamParent, in a target's answer to a refresh, names the snapshot
	// the first stream is to be the changes since: the target keeps that
	// snapshot as it received it.
	StreamParent string
}

// lodgeField is the header field Lodge's features travel in: far above
// LXD's, so that no LXD release will take it.
const lodgeField = 1000

// Control ends a migration, from either side (MigrationControl).
type Control struct {
	Success bool
	Message string
}

// Marshal encodes h (proto2, every required field present).
func (h *Header) Marshal() []byte {
	var b []byte
	b = appendVarint(b, 1, uint64(h.FS))
	if h.Criu != nil {
		b = appendVarint(b, 2, uint64(*h.Criu))
	}
	for _, e := range h.IDMap {
		var m []byte
		m = appendBool(m, 1, e.IsUID)
		m = appendBool(m, 2, e.IsGID)
		m = appendVarint(m, 3, uint64(int64(e.HostID)))
		m = appendVarint(m, 4, uint64(int64(e.NsID)))
		m = appendVarint(m, 5, uint64(int64(e.MapRange)))
		b = appendBytes(b, 3, m)
	}
	for _, n := range h.SnapshotNames {
		b = appendBytes(b, 4, []byte(n))
	}
	for _, s := range h.Snapshots {
		b = appendBytes(b, 5, s.marshal())
	}
	if h.Predump != nil {
		b = appendBool(b, 7, *h.Predump)
	}
	if f := h.Rsync; f != nil {
		var m []byte
		m = appendBool(m, 1, f.Xattrs)
		m = appendBool(m, 2, f.Delete)
		m = appendBool(m, 3, f.Compress)
		m = appendBool(m, 4, f.Bidirectional)
		b = appendBytes(b, 8, m)
	}
	if h.Refresh != nil {
		b = appendBool(b, 9, *h.Refresh)
	}
	if h.VolumeSize != nil {
		b = appendVarint(b, 11, uint64(*h.VolumeSize))
	}
	if f := h.Btrfs; f != nil {
		var m []byte
		m = appendBool(m, 1, f.MigrationHeader)
		m = appendBool(m, 2, f.HeaderSubvolumes)
		m = appendBool(m, 3, f.HeaderSubvolumeUUIDs)
		b = appendBytes(b, 12, m)
	}
	if h.IndexHeaderVersion != nil {
		b = appendVarint(b, 13, uint64(*h.IndexHeaderVersion))
	}
	if h.Lodge != nil {
		var m []byte
		if h.Lodge.Stream != "" {
			m = appendBytes(m, 2, []byte(h.Lodge.Stream))
		}
		if h.Lodge.LinksAndACLs {
			m = appendBool(m, 3, true)
		}
		if h.Lodge.StreamParent != "" {
			m = appendBytes(m, 4, []byte(h.Lodge.StreamParent))
		}
		b = appendBytes(b, lodgeField, m)
	}
	return b
}

func (s Snapshot) marshal() []byte {
	var b []byte
	b = appendBytes(b, 1, []byte(s.Name))
	b = appendConfig(b, 2, s.LocalConfig)
	for _, p := range s.Profiles {
		b = appendBytes(b, 3, []byte(p))
	}
	b = appendBool(b, 4, s.Ephemeral)
	for _, d := range s.LocalDevices {
		m := appendBytes(nil, 1, []byte(d.Name))
		m = appendConfig(m, 2, d.Config)
		b = appendBytes(b, 5, m)
	}
	b = appendVarint(b, 6, uint64(int64(s.Architecture)))
	b = appendBool(b, 7, s.Stateful)
	for i, d := range []*int64{s.CreationDate, s.LastUsedDate, s.ExpiryDate} {
		if d != nil {
			b = appendVarint(b, protowire.Number(8+i), uint64(*d))
		}
	}
	return b
}

// Marshal encodes c.
func (c Control) Marshal() []byte {
	b := appendBool(nil, 1, c.Success)
	return appendBytes(b, 2, []byte(c.Message))
}

// ErrMalformed marks a message that is not what the protocol says.
var ErrMalformed = errors.New("malformed migration message")

// UnmarshalHeader decodes a header; fields it does not know are skipped.
func UnmarshalHeader(b []byte) (*Header, error) {
	h := &Header{}
	var haveFS bool
	err := eachField(b, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case 1:
			h.FS, haveFS = FSType(int32(v)), true
		case 2:
			t := CriuType(int32(v))
			h.Criu = &t
		case 3:
			var e IDMapEntry
			err := eachField(data, func(n protowire.Number, v uint64, _ []byte) error {
				switch n {
				case 1:
					e.IsUID = v != 0
				case 2:
					e.IsGID = v != 0
				case 3:
					e.HostID = int32(v)
				case 4:
					e.NsID = int32(v)
				case 5:
					e.MapRange = int32(v)
				}
				return nil
			})
			if err != nil {
				return err
			}
			h.IDMap = append(h.IDMap, e)
		case 4:
			h.SnapshotNames = append(h.SnapshotNames, string(data))
		case 5:
			s, err := unmarshalSnapshot(data)
			if err != nil {
				return err
			}
			h.Snapshots = append(h.Snapshots, s)
		case 7:
			p := v != 0
			h.Predump = &p
		case 8:
			f := &RsyncFeatures{}
			err := eachField(data, func(n protowire.Number, v uint64, _ []byte) error {
				switch n {
				case 1:
					f.Xattrs = v != 0
				case 2:
					f.Delete = v != 0
				case 3:
					f.Compress = v != 0
				case 4:
					f.Bidirectional = v != 0
				}
				return nil
			})
			if err != nil {
				return err
			}
			h.Rsync = f
		case 9:
			r := v != 0
			h.Refresh = &r
		case 11:
			s := int64(v)
			h.VolumeSize = &s
		case 12:
			f := &BtrfsFeatures{}
			err := eachField(data, func(n protowire.Number, v uint64, _ []byte) error {
				switch n {
				case 1:
					f.MigrationHeader = v != 0
				case 2:
					f.HeaderSubvolumes = v != 0
				case 3:
					f.HeaderSubvolumeUUIDs = v != 0
				}
				return nil
			})
			if err != nil {
				return err
			}
			h.Btrfs = f
		case 13:
			ver := uint32(v)
			h.IndexHeaderVersion = &ver
		case lodgeField:
			f := &LodgeFeatures{}
			err := eachField(data, func(n protowire.Number, v uint64, data []byte) error {
				switch n {
				case 2:
					f.Stream = string(data)
				case 3:
					f.LinksAndACLs = v != 0
				case 4:
					f.StreamParent = string(data)
				}
				return nil
			})
			if err != nil {
				return err
			}
			h.Lodge = f
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !haveFS {
		return nil, fmt.Errorf("%w: the header has no fs type", ErrMalformed)
	}
	return h, nil
}

func unmarshalSnapshot(b []byte) (Snapshot, error) {
	s := Snapshot{LocalConfig: map[string]string{}}
	var haveName bool
	err := eachField(b, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case 1:
			s.Name, haveName = string(data), true
		case 2:
			k, val, err := unmarshalConfig(data)
			if err != nil {
				return err
			}
			s.LocalConfig[k] = val
		case 3:
			s.Profiles = append(s.Profiles, string(data))
		case 4:
			s.Ephemeral = v != 0
		case 5:
			d := Device{Config: map[string]string{}}
			err := eachField(data, func(n protowire.Number, _ uint64, data []byte) error {
				switch n {
				case 1:
					d.Name = string(data)
				case 2:
					k, val, err := unmarshalConfig(data)
					if err != nil {
						return err
					}
					d.Config[k] = val
				}
				return nil
			})
			if err != nil {
				return err
			}
			s.LocalDevices = append(s.LocalDevices, d)
		case 6:
			s.Architecture = int32(v)
		case 7:
			s.Stateful = v != 0
		case 8, 9, 10:
			d := int64(v)
			*[]**int64{&s.CreationDate, &s.LastUsedDate, &s.ExpiryDate}[num-8] = &d
		}
		return nil
	})
	if err == nil && !haveName {
		err = fmt.Errorf("%w: a snapshot has no name", ErrMalformed)
	}
	return s, err
}

// UnmarshalControl decodes a control message.
func UnmarshalControl(b []byte) (Control, error) {
	var c Control
	var have bool
	err := eachField(b, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case 1:
			c.Success, have = v != 0, true
		case 2:
			c.Message = string(data)
		}
		return nil
	})
	if err == nil && !have {
		err = fmt.Errorf("%w: the control message has no success field", ErrMalformed)
	}
	return c, err
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	return appendVarint(b, num, protowire.EncodeBool(v))
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendConfig writes a map as repeated Config messages, in key order
// (the same header encodes the same way).
func appendConfig(b []byte, num protowire.Number, cfg map[string]string) []byte {
	for _, k := range sortedKeys(cfg) {
		m := appendBytes(nil, 1, []byte(k))
		m = appendBytes(m, 2, []byte(cfg[k]))
		b = appendBytes(b, num, m)
	}
	return b
}

func unmarshalConfig(b []byte) (key, value string, err error) {
	err = eachField(b, func(n protowire.Number, _ uint64, data []byte) error {
		switch n {
		case 1:
			key = string(data)
		case 2:
			value = string(data)
		}
		return nil
	})
	return key, value, err
}

// eachField calls fn for each field of the message b: v for a varint,
// data for a length-delimited field; other wire types are skipped.
func eachField(b []byte, fn func(num protowire.Number, v uint64, data []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		var v uint64
		var data []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			data, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.VarintType && typ != protowire.BytesType {
			continue
		}
		if err := fn(num, v, data); err != nil {
			return err
		}
	}
	return nil
}
