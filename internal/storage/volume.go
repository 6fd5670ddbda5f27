package storage

import "github.com/lodge-project/lodge/internal/project"

// VolumeType is what a volume holds.
type VolumeType string

// Volume types, as LXD names them.
const (
	TypeContainer VolumeType = "container"
	TypeVM        VolumeType = "virtual-machine"
	TypeImage     VolumeType = "image"
	TypeCustom    VolumeType = "custom"
)

// ContentType is how a volume's data is shaped.
type ContentType string

// Content types: a filesystem tree, or a block device (a VM's disk).
const (
	ContentFilesystem ContentType = "filesystem"
	ContentBlock      ContentType = "block"
)

// DefaultProject is the project every volume is in until projects come.
const DefaultProject = project.Default

// Volume names one volume of a pool.
type Volume struct {
	Pool    string
	Project string
	Type    VolumeType
	Name    string
	Content ContentType
}

// InstanceVolume is the root volume of an instance of type instanceType
// ("container", "virtual-machine") in project, on pool.
func InstanceVolume(pool, proj, instanceType, name string) Volume {
	v := Volume{Pool: pool, Project: proj, Type: TypeContainer, Name: name, Content: ContentFilesystem}
	if instanceType == string(TypeVM) {
		v.Type, v.Content = TypeVM, ContentBlock
	}
	v.Project = project.Name(v.Project)
	return v
}

// StorageName is the volume's name within its pool and type: the bare
// name in the default project, "<project>_<name>" in another (LXD's
// naming, so volumes of two projects never meet on disk).
func (v Volume) StorageName() string { return project.HostName(v.Project, v.Name) }

// Renamed is v under another name.
func (v Volume) Renamed(name string) Volume {
	v.Name = name
	return v
}

// Capabilities say what a driver can do; the pool layer chooses its path
// from them (a copy by the driver's own means, or a generic one).
type Capabilities struct {
	// CoWSnapshots: snapshots and copies share unchanged data.
	CoWSnapshots bool
	// OptimizedImages: instances are made from an image volume kept in
	// the pool, rather than by unpacking the image each time.
	OptimizedImages bool
	// SendReceive: volumes move between pools as the driver's own stream.
	SendReceive bool
	// Quotas: the driver enforces a volume's size.
	Quotas bool
	// BlockVolumes: the driver holds block volumes (VM disks).
	BlockVolumes bool
	// VolumeTypes lists the volume types the driver holds.
	VolumeTypes []VolumeType
}
