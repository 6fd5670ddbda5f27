package imageserver

// The simplestreams format, as LXD's image servers publish it:
// streams/v1/index.json lists product files; each product (an OS release
// on an architecture) has versions, and each version items (files). An
// image is a version's metadata item (lxd.tar.xz) and a rootfs item
// (squashfs or root.tar.xz), or one unified item (lxd_combined.tar.gz);
// its fingerprint is the combined hash the metadata item carries.

// StreamIndex is streams/v1/index.json.
type StreamIndex struct {
	Format  string                    `json:"format"`
	Updated string                    `json:"updated,omitempty"`
	Index   map[string]StreamIndexRef `json:"index"`
}

// StreamIndexRef names one products file.
type StreamIndexRef struct {
	DataType string   `json:"datatype"`
	Format   string   `json:"format,omitempty"`
	Path     string   `json:"path"`
	Updated  string   `json:"updated,omitempty"`
	Products []string `json:"products"`
}

// Products is a products file (streams/v1/images.json).
type Products struct {
	ContentID string             `json:"content_id"`
	DataType  string             `json:"datatype"`
	Format    string             `json:"format"`
	Updated   string             `json:"updated,omitempty"`
	Products  map[string]Product `json:"products"`
}

// Product is an OS release on one architecture.
type Product struct {
	Aliases      string             `json:"aliases"`
	Arch         string             `json:"arch"`
	OS           string             `json:"os"`
	Release      string             `json:"release"`
	ReleaseTitle string             `json:"release_title"`
	Variant      string             `json:"variant,omitempty"`
	Versions     map[string]Version `json:"versions"`
}

// Version is one build of a product; its name starts with its date
// (20231201_05:24).
type Version struct {
	Items map[string]Item `json:"items"`
	Label string          `json:"label,omitempty"`
}

// Item is one file of a version.
type Item struct {
	FileType string `json:"ftype"`
	Path     string `json:"path"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	// The image's fingerprints, on the metadata item: sha256 of the
	// metadata file followed by the rootfs of the kind named.
	CombinedSHA256         string `json:"combined_sha256,omitempty"`
	CombinedRootxzSHA256   string `json:"combined_rootxz_sha256,omitempty"`
	CombinedSquashfsSHA256 string `json:"combined_squashfs_sha256,omitempty"`
}

// Item file types.
const (
	FileMeta     = "lxd.tar.xz"
	FileUnified  = "lxd_combined.tar.gz"
	FileSquashfs = "squashfs"
	FileRootTar  = "root.tar.xz"
)

// debianArch and lxdArch translate between the architecture names
// simplestreams products use (Debian's) and LXD's.
var debianToLXD = map[string]string{
	"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "armhf": "armv7l", "armel": "armv6l",
	"ppc64el": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}

// LXDArch is an architecture's LXD name, from its Debian one.
func LXDArch(debian string) string {
	if a, ok := debianToLXD[debian]; ok {
		return a
	}
	return debian
}

// DebianArch is an architecture's Debian name, from its LXD one.
func DebianArch(lxd string) string {
	for d, l := range debianToLXD {
		if l == lxd {
			return d
		}
	}
	return lxd
}
