package migration

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// lxdSchema is LXD 5.0.2's migrate.proto (proto2) as a descriptor, so
// that the real protobuf library checks this package's encoding: the
// required fields present, every field where LXD reads it.
func lxdSchema(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	const (
		req = descriptorpb.FieldDescriptorProto_LABEL_REQUIRED
		opt = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
		rep = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
		b   = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		s   = descriptorpb.FieldDescriptorProto_TYPE_STRING
		i32 = descriptorpb.FieldDescriptorProto_TYPE_INT32
		i64 = descriptorpb.FieldDescriptorProto_TYPE_INT64
		u32 = descriptorpb.FieldDescriptorProto_TYPE_UINT32
		msg = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		enm = descriptorpb.FieldDescriptorProto_TYPE_ENUM
	)
	type f struct {
		name  string
		num   int32
		label descriptorpb.FieldDescriptorProto_Label
		typ   descriptorpb.FieldDescriptorProto_Type
		ref   string
	}
	message := func(name string, fields ...f) *descriptorpb.DescriptorProto {
		d := &descriptorpb.DescriptorProto{Name: proto.String(name)}
		for _, x := range fields {
			fd := &descriptorpb.FieldDescriptorProto{Name: proto.String(x.name), Number: proto.Int32(x.num),
				Label: x.label.Enum(), Type: x.typ.Enum()}
			if x.ref != "" {
				fd.TypeName = proto.String(".migration." + x.ref)
			}
			d.Field = append(d.Field, fd)
		}
		return d
	}
	enum := func(name string, values ...string) *descriptorpb.EnumDescriptorProto {
		e := &descriptorpb.EnumDescriptorProto{Name: proto.String(name)}
		for i, v := range values {
			e.Value = append(e.Value, &descriptorpb.EnumValueDescriptorProto{Name: proto.String(v), Number: proto.Int32(int32(i))})
		}
		return e
	}
	file := &descriptorpb.FileDescriptorProto{
		Name: proto.String("migrate.proto"), Package: proto.String("migration"), Syntax: proto.String("proto2"),
		EnumType: []*descriptorpb.EnumDescriptorProto{
			enum("MigrationFSType", "RSYNC", "BTRFS", "ZFS", "RBD", "BLOCK_AND_RSYNC"),
			enum("CRIUType", "CRIU_RSYNC", "PHAUL", "NONE"),
		},
		MessageType: []*descriptorpb.DescriptorProto{
			message("IDMapType", f{"isuid", 1, req, b, ""}, f{"isgid", 2, req, b, ""}, f{"hostid", 3, req, i32, ""},
				f{"nsid", 4, req, i32, ""}, f{"maprange", 5, req, i32, ""}),
			message("Config", f{"key", 1, req, s, ""}, f{"value", 2, req, s, ""}),
			message("Device", f{"name", 1, req, s, ""}, f{"config", 2, rep, msg, "Config"}),
			message("Snapshot", f{"name", 1, req, s, ""}, f{"localConfig", 2, rep, msg, "Config"}, f{"profiles", 3, rep, s, ""},
				f{"ephemeral", 4, req, b, ""}, f{"localDevices", 5, rep, msg, "Device"}, f{"architecture", 6, req, i32, ""},
				f{"stateful", 7, req, b, ""}, f{"creation_date", 8, opt, i64, ""}, f{"last_used_date", 9, opt, i64, ""},
				f{"expiry_date", 10, opt, i64, ""}),
			message("rsyncFeatures", f{"xattrs", 1, opt, b, ""}, f{"delete", 2, opt, b, ""}, f{"compress", 3, opt, b, ""},
				f{"bidirectional", 4, opt, b, ""}),
			message("btrfsFeatures", f{"migration_header", 1, opt, b, ""}, f{"header_subvolumes", 2, opt, b, ""},
				f{"header_subvolume_uuids", 3, opt, b, ""}),
			message("MigrationHeader", f{"fs", 1, req, enm, "MigrationFSType"}, f{"criu", 2, opt, enm, "CRIUType"},
				f{"idmap", 3, rep, msg, "IDMapType"}, f{"snapshotNames", 4, rep, s, ""}, f{"snapshots", 5, rep, msg, "Snapshot"},
				f{"predump", 7, opt, b, ""}, f{"rsyncFeatures", 8, opt, msg, "rsyncFeatures"}, f{"refresh", 9, opt, b, ""},
				f{"volumeSize", 11, opt, i64, ""}, f{"btrfsFeatures", 12, opt, msg, "btrfsFeatures"},
				f{"indexHeaderVersion", 13, opt, u32, ""}),
			message("MigrationControl", f{"success", 1, req, b, ""}, f{"message", 2, opt, s, ""}),
		},
	}
	fd, err := protodesc.NewFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func sampleHeader() *Header {
	criu := CriuNone
	refresh, predump := true, false
	size, created, ver := int64(1<<30), int64(1700000000), uint32(1)
	return &Header{
		FS: FSBtrfs, Criu: &criu, Predump: &predump, Refresh: &refresh, VolumeSize: &size, IndexHeaderVersion: &ver,
		IDMap:         []IDMapEntry{{IsUID: true, HostID: 1000000, MapRange: 65536}, {IsGID: true, HostID: 1000000, MapRange: 65536}},
		SnapshotNames: []string{"snap0", "snap1"},
		Snapshots: []Snapshot{{Name: "snap0", LocalConfig: map[string]string{"limits.cpu": "1", "user.a": ""}, Profiles: []string{"default"},
			LocalDevices: []Device{{Name: "root", Config: map[string]string{"path": "/", "pool": "default", "type": "disk"}}},
			Architecture: 2, CreationDate: &created}, {Name: "snap1", LocalConfig: map[string]string{}, Architecture: 2, Stateful: true}},
		Rsync: &RsyncFeatures{Xattrs: true, Delete: true, Compress: true, Bidirectional: true},
		Btrfs: &BtrfsFeatures{MigrationHeader: true, HeaderSubvolumeUUIDs: true},
		Lodge: &LodgeFeatures{Stream: "btrfs", LinksAndACLs: true},
	}
}

func TestHeaderAsLXDReadsIt(t *testing.T) {
	fd := lxdSchema(t)
	hdr := dynamicpb.NewMessage(fd.Messages().ByName("MigrationHeader"))
	// proto.Unmarshal checks required fields: LXD's own check.
	if err := proto.Unmarshal(sampleHeader().Marshal(), hdr); err != nil {
		t.Fatalf("LXD's schema refuses the header: %v", err)
	}
	get := func(m protoreflect.Message, name string) protoreflect.Value {
		return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name)))
	}
	if v := get(hdr, "fs").Enum(); v != 1 {
		t.Errorf("fs = %d", v)
	}
	if v := get(hdr, "criu").Enum(); v != 2 {
		t.Errorf("criu = %d", v)
	}
	idmap := get(hdr, "idmap").List()
	if idmap.Len() != 2 || get(idmap.Get(0).Message(), "hostid").Int() != 1000000 || !get(idmap.Get(1).Message(), "isgid").Bool() {
		t.Errorf("idmap = %v", idmap)
	}
	snaps := get(hdr, "snapshots").List()
	if snaps.Len() != 2 {
		t.Fatalf("snapshots: %d", snaps.Len())
	}
	s0 := snaps.Get(0).Message()
	if get(s0, "name").String() != "snap0" || get(s0, "architecture").Int() != 2 || get(s0, "creation_date").Int() != 1700000000 ||
		get(s0, "localConfig").List().Len() != 2 || get(get(s0, "localDevices").List().Get(0).Message(), "config").List().Len() != 3 {
		t.Errorf("snapshot 0 as LXD reads it: %v", s0)
	}
	if !get(get(hdr, "rsyncFeatures").Message(), "bidirectional").Bool() || !get(hdr, "refresh").Bool() ||
		get(hdr, "indexHeaderVersion").Uint() != 1 || get(hdr, "volumeSize").Int() != 1<<30 {
		t.Errorf("features: %v", hdr)
	}
	// Lodge's field is unknown to LXD, and kept as such.
	if len(hdr.GetUnknown()) == 0 {
		t.Error("Lodge's features are not in the encoding")
	}
}

func TestHeaderFromLXDsEncoding(t *testing.T) {
	want := sampleHeader()
	fd := lxdSchema(t)
	hdr := dynamicpb.NewMessage(fd.Messages().ByName("MigrationHeader"))
	if err := proto.Unmarshal(want.Marshal(), hdr); err != nil {
		t.Fatal(err)
	}
	// Re-encoded by the protobuf library (another field order, LXD's
	// way of writing), then read back here.
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestControlAsLXDReadsIt(t *testing.T) {
	fd := lxdSchema(t)
	for _, c := range []Control{{Success: true}, {Message: "no space left"}} {
		m := dynamicpb.NewMessage(fd.Messages().ByName("MigrationControl"))
		if err := proto.Unmarshal(c.Marshal(), m); err != nil {
			t.Fatal(err)
		}
		b, _ := proto.Marshal(m)
		got, err := UnmarshalControl(b)
		if err != nil || got != c {
			t.Errorf("control %+v came back as %+v, %v", c, got, err)
		}
	}
}

func TestMalformedMessagesAreRefused(t *testing.T) {
	for name, b := range map[string][]byte{
		"no fs":             appendBool(nil, 9, true),
		"truncated":         truncated(sampleHeader().Marshal()),
		"bad varint":        {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"nameless snapshot": appendBytes(appendVarint(nil, 1, 0), 5, appendBool(nil, 4, true)),
	} {
		if _, err := UnmarshalHeader(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := UnmarshalControl(nil); err == nil {
		t.Error("an empty control message is accepted")
	}
}

func truncated(b []byte) []byte { return b[:len(b)-1] }

func TestRefreshComparesSnapshotsByNameAndDate(t *testing.T) {
	at := func(n int64) *int64 { return &n }
	source := []Snapshot{{Name: "a", CreationDate: at(1)}, {Name: "b", CreationDate: at(2)}, {Name: "c", CreationDate: at(3)}}
	target := []Snapshot{{Name: "a", CreationDate: at(1)}, {Name: "b", CreationDate: at(9)}, {Name: "old", CreationDate: at(0)}}
	send, prune := compareSnapshots(source, target)
	var names []string
	for _, s := range send {
		names = append(names, s.Name)
	}
	if !reflect.DeepEqual(names, []string{"b", "c"}) || !reflect.DeepEqual(prune, []string{"b", "old"}) {
		t.Errorf("send %v, prune %v", names, prune)
	}
}
