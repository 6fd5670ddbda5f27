package btrfs

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
)

// streamOf builds a version 1 send stream from commands, each a command
// number and its attributes in order.
type command struct {
	cmd   uint16
	attrs []attr
}

type attr struct {
	typ uint16
	val []byte
}

func streamOf(cmds ...command) []byte {
	var b bytes.Buffer
	b.WriteString(streamMagic)
	_ = binary.Write(&b, binary.LittleEndian, uint32(1))
	for _, c := range cmds {
		var body bytes.Buffer
		for _, a := range c.attrs {
			_ = binary.Write(&body, binary.LittleEndian, a.typ)
			_ = binary.Write(&body, binary.LittleEndian, uint16(len(a.val)))
			body.Write(a.val)
		}
		_ = binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
		_ = binary.Write(&b, binary.LittleEndian, c.cmd)
		_ = binary.Write(&b, binary.LittleEndian, uint32(0)) // crc: receive's to check
		b.Write(body.Bytes())
	}
	return b.Bytes()
}

var (
	ownUUID   = uuid{1}
	otherUUID = uuid{2}
	subvol    = command{cmdSubvol, []attr{{attrPath, []byte("vol")}, {attrUUID, ownUUID[:]}, {2, make([]byte, 8)}}}
	end       = command{cmd: cmdEnd}
)

func mkfile(path string) command { return command{3, []attr{{attrPath, []byte(path)}}} }

func TestStreamCheck(t *testing.T) {
	refuseAll := streamCheck{parent: func(uuid) error { return io.ErrUnexpectedEOF }}
	cases := []struct {
		name   string
		stream []byte
		refuse string // "" passes
	}{
		{"plain", streamOf(subvol, mkfile("rootfs/etc"), command{8, []attr{{attrPath, []byte("l")}, {attrPathLink, []byte("/etc/shadow")}}}, end), ""},
		{"clone from itself", streamOf(subvol, command{cmdClone, []attr{{attrPath, []byte("a")}, {attrCloneUUID, ownUUID[:]}, {attrClonePath, []byte("b")}}}, end), ""},
		{"not a stream", []byte("hello, this is not btrfs"), "not a btrfs send stream"},
		{"no subvolume first", streamOf(mkfile("a"), end), "does not start with its subvolume"},
		{"two subvolumes", streamOf(subvol, subvol, end), "more than one subvolume"},
		{"a subvolume name with a slash", streamOf(command{cmdSubvol, []attr{{attrPath, []byte("a/b")}, {attrUUID, ownUUID[:]}}}, end), "is not one name"},
		{"climbing path", streamOf(subvol, mkfile("rootfs/../../etc/passwd"), end), "outside its subvolume"},
		{"absolute path", streamOf(subvol, mkfile("/etc/passwd"), end), "outside its subvolume"},
		{"climbing rename", streamOf(subvol, command{9, []attr{{attrPath, []byte("a")}, {attrPathTo, []byte("../a")}}}, end), "outside its subvolume"},
		{"climbing hard link", streamOf(subvol, command{cmdLink, []attr{{attrPath, []byte("a")}, {attrPathLink, []byte("../../x")}}}, end), "outside its subvolume"},
		{"snapshot of a foreign parent", streamOf(command{cmdSnapshot, []attr{{attrPath, []byte("vol")}, {attrUUID, ownUUID[:]}, {attrCloneUUID, otherUUID[:]}}}, end), "unexpected EOF"},
		{"clone from a foreign subvolume", streamOf(subvol, command{cmdClone, []attr{{attrPath, []byte("a")}, {attrCloneUUID, otherUUID[:]}, {attrClonePath, []byte("b")}}}, end), "unexpected EOF"},
		{"cut short", streamOf(subvol, mkfile("a"))[:40], "truncated"},
		{"no end", streamOf(subvol, mkfile("a")), "truncated"},
		{"a second stream behind the end", append(streamOf(subvol, end), streamOf(subvol, end)...), "follows the end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			own, err := refuseAll.copy(bytes.NewReader(c.stream), &out)
			if c.refuse == "" {
				if err != nil {
					t.Fatal(err)
				}
				if own != ownUUID || !bytes.Equal(out.Bytes(), c.stream) {
					t.Fatalf("passed on %d of %d bytes, uuid %x", out.Len(), len(c.stream), own)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.refuse) {
				t.Fatalf("err %v, want one saying %q", err, c.refuse)
			}
		})
	}
}

// A cut attribute is refused before its command is passed on.
func TestStreamCheckAttributes(t *testing.T) {
	s := streamOf(subvol, mkfile("abc"), end)
	// Make mkfile's attribute claim more bytes than its command holds.
	at := len(streamOf(subvol)) + 10 + 2
	binary.LittleEndian.PutUint16(s[at:], 200)
	var out bytes.Buffer
	_, err := streamCheck{parent: func(uuid) error { return nil }}.copy(bytes.NewReader(s), &out)
	if err == nil || !strings.Contains(err.Error(), "longer than its command") {
		t.Fatalf("err %v", err)
	}
	// What came before may have been passed on (or, buffered, not yet);
	// the refused command never is.
	if out.Len() > len(streamOf(subvol)) {
		t.Fatalf("passed on %d bytes, more than the header and the subvolume", out.Len())
	}
}
