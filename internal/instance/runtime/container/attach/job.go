package attach

/*
#include "attach.h"
*/
import "C"

import "encoding/binary"

// encode lays the job out as attach.c's parse reads it.
func encode(j Job) []byte {
	var b []byte
	record := func(tag byte, v []byte) {
		b = append(b, tag)
		b = binary.NativeEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	str := func(tag byte, s string) { record(tag, append([]byte(s), 0)) }
	for _, dir := range j.CgroupDirs {
		str(C.ATTACH_CGROUP, dir+"/cgroup.procs")
	}
	record(C.ATTACH_NAMESPACES, binary.NativeEndian.AppendUint32(nil, j.Namespaces))
	record(C.ATTACH_IDS, binary.NativeEndian.AppendUint32(binary.NativeEndian.AppendUint32(nil, j.UID), j.GID))
	str(C.ATTACH_CWD, j.Cwd)
	for _, a := range j.Args {
		str(C.ATTACH_ARG, a)
	}
	for _, e := range j.Env {
		str(C.ATTACH_ENV, e)
	}
	var caps []byte
	for _, m := range []uint64{j.Caps.Bounding, j.Caps.Effective, j.Caps.Permitted, j.Caps.Inheritable, j.Caps.Ambient} {
		caps = binary.NativeEndian.AppendUint64(caps, m)
	}
	record(C.ATTACH_CAPS, caps)
	if len(j.Seccomp) > 0 {
		record(C.ATTACH_SECCOMP, j.Seccomp)
	}
	if j.NoNewPrivs {
		record(C.ATTACH_NO_NEW_PRIVS, nil)
	}
	if j.Hold {
		record(C.ATTACH_HOLD, nil)
	}
	if j.TTY {
		tty := binary.NativeEndian.AppendUint16(nil, j.Width)
		record(C.ATTACH_TTY, binary.NativeEndian.AppendUint16(tty, j.Height))
	}
	return b
}
