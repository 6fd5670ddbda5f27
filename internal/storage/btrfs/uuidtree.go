package btrfs

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// btrfs receive finds a stream's parent by looking its uuid up in the
// filesystem's uuid tree. receivedBy asks that tree the same question, so
// that an import can make sure the answer is the subvolume it received
// itself and no other.

const (
	iocTreeSearch         = 0xd0009411 // _IOWR(0x94, 17, struct btrfs_ioctl_search_args)
	iocInoLookup          = 0xd0009412 // _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args)
	iocGetSubvolInfo      = 0x81f8943c // _IOR(0x94, 60, struct btrfs_ioctl_get_subvol_info_args)
	subvolInfoSize        = 504
	subvolInfoUUID        = 296 // offset of uuid in btrfs_ioctl_get_subvol_info_args
	uuidTreeObjectID      = 9   // BTRFS_UUID_TREE_OBJECTID
	uuidKeyReceivedSubvol = 252 // BTRFS_UUID_KEY_RECEIVED_SUBVOL
	searchKeySize         = 104 // struct btrfs_ioctl_search_key
	searchHeaderSize      = 32  // struct btrfs_ioctl_search_header
)

// searchArgs is struct btrfs_ioctl_search_args.
type searchArgs struct {
	treeID      uint64
	minObjectID uint64
	maxObjectID uint64
	minOffset   uint64
	maxOffset   uint64
	minTransID  uint64
	maxTransID  uint64
	minType     uint32
	maxType     uint32
	nrItems     uint32
	_           uint32
	_           [4]uint64
	buf         [4096 - searchKeySize]byte
}

// inoLookupArgs is struct btrfs_ioctl_ino_lookup_args.
type inoLookupArgs struct {
	treeID   uint64
	objectID uint64
	name     [4080]byte
}

var (
	_ [4096 - unsafe.Sizeof(searchArgs{})]byte
	_ [unsafe.Sizeof(searchArgs{}) - 4096]byte
	_ [unsafe.Offsetof(searchArgs{}.buf) - searchKeySize]byte
	_ [4096 - unsafe.Sizeof(inoLookupArgs{})]byte
)

// receivedBy lists the ids of the subvolumes whose received uuid is id,
// on the filesystem that holds dir.
func receivedBy(dir string, id uuid) ([]uint64, error) {
	fd, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	objectID := binary.LittleEndian.Uint64(id[0:8])
	offset := binary.LittleEndian.Uint64(id[8:16])
	args := searchArgs{treeID: uuidTreeObjectID, minObjectID: objectID, maxObjectID: objectID,
		minOffset: offset, maxOffset: offset, maxTransID: ^uint64(0),
		minType: uuidKeyReceivedSubvol, maxType: uuidKeyReceivedSubvol, nrItems: 1}
	if err := ioctl(fd, iocTreeSearch, unsafe.Pointer(&args)); err != nil {
		return nil, fmt.Errorf("search the uuid tree: %w", err)
	}
	var ids []uint64
	buf := args.buf[:]
	for i := uint32(0); i < args.nrItems && len(buf) >= searchHeaderSize; i++ {
		typ := binary.LittleEndian.Uint32(buf[24:28])
		n := int(binary.LittleEndian.Uint32(buf[28:32]))
		item := buf[searchHeaderSize:]
		if n > len(item) {
			return nil, fmt.Errorf("search the uuid tree: an item overruns its buffer")
		}
		if typ == uuidKeyReceivedSubvol {
			for j := 0; j+8 <= n; j += 8 {
				ids = append(ids, binary.LittleEndian.Uint64(item[j:]))
			}
		}
		buf = item[n:]
	}
	return ids, nil
}

// subvolumeTreeID is the id of the subvolume whose root is path.
func subvolumeTreeID(path string) (uint64, error) {
	fd, err := openDir(path)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	args := inoLookupArgs{objectID: subvolRootIno}
	if err := ioctl(fd, iocInoLookup, unsafe.Pointer(&args)); err != nil {
		return 0, fmt.Errorf("subvolume id of %s: %w", path, err)
	}
	return args.treeID, nil
}

// subvolumeUUID is the uuid of the subvolume whose root is path, as
// text.
func subvolumeUUID(path string) (string, error) {
	fd, err := openDir(path)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	var info [subvolInfoSize]byte
	if err := ioctl(fd, iocGetSubvolInfo, unsafe.Pointer(&info)); err != nil {
		return "", fmt.Errorf("subvolume info of %s: %w", path, err)
	}
	return uuid(info[subvolInfoUUID : subvolInfoUUID+16]).String(), nil
}
