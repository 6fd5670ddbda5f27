package api

import "time"

// Image is an image as GET /1.0/images/<fingerprint> reports it.
type Image struct {
	Aliases      []ImageAlias      `json:"aliases" yaml:"aliases"`
	Architecture string            `json:"architecture" yaml:"architecture"`
	AutoUpdate   bool              `json:"auto_update" yaml:"auto_update"`
	Cached       bool              `json:"cached" yaml:"cached"`
	Fingerprint  string            `json:"fingerprint" yaml:"fingerprint"`
	Filename     string            `json:"filename" yaml:"filename"`
	Properties   map[string]string `json:"properties" yaml:"properties"`
	Public       bool              `json:"public" yaml:"public"`
	Size         int64             `json:"size" yaml:"size"`
	Type         string            `json:"type" yaml:"type"`
	CreatedAt    time.Time         `json:"created_at" yaml:"created_at"`
	ExpiresAt    time.Time         `json:"expires_at" yaml:"expires_at"`
	LastUsedAt   time.Time         `json:"last_used_at" yaml:"last_used_at"`
	UploadedAt   time.Time         `json:"uploaded_at" yaml:"uploaded_at"`
	Profiles     []string          `json:"profiles" yaml:"profiles"`
	// UpdateSource is where a cached or auto-updating image came from.
	UpdateSource *ImageSource `json:"update_source,omitempty" yaml:"update_source,omitempty"`
}

// ImagePut is the writable part of an image.
type ImagePut struct {
	AutoUpdate bool              `json:"auto_update" yaml:"auto_update"`
	Properties map[string]string `json:"properties" yaml:"properties"`
	Public     bool              `json:"public" yaml:"public"`
	Profiles   []string          `json:"profiles" yaml:"profiles"`
	// ExpiresAt: zero leaves the image's expiry as it is.
	ExpiresAt time.Time `json:"expires_at" yaml:"expires_at"`
}

// ImageAlias names an image in a list of aliases.
type ImageAlias struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description" yaml:"description"`
}

// ImageAliasesEntry is an alias as /1.0/images/aliases/<name> reports it.
type ImageAliasesEntry struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description" yaml:"description"`
	Target      string `json:"target" yaml:"target"`
	Type        string `json:"type" yaml:"type"`
}

// ImageAliasesPost is the body of POST /1.0/images/aliases.
type ImageAliasesPost struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Target      string `json:"target"`
	Type        string `json:"type"`
}

// ImageAliasesEntryPut is the body of PUT /1.0/images/aliases/<name>.
type ImageAliasesEntryPut struct {
	Description string `json:"description"`
	Target      string `json:"target"`
}

// ImageAliasesEntryPost renames an alias.
type ImageAliasesEntryPost struct {
	Name string `json:"name"`
}

// ImageMetadata is metadata.yaml inside an image.
type ImageMetadata struct {
	Architecture string            `json:"architecture" yaml:"architecture"`
	CreationDate int64             `json:"creation_date" yaml:"creation_date"`
	ExpiryDate   int64             `json:"expiry_date" yaml:"expiry_date"`
	Properties   map[string]string `json:"properties" yaml:"properties"`
	// Templates are the files rendered into an instance's root, by their
	// path there (GET /1.0/instances/NAME/metadata).
	Templates map[string]*ImageMetadataTemplate `json:"templates" yaml:"templates"`
}

// ImageMetadataTemplate says when a template is rendered (create, copy,
// start, rename), from which file of templates/, whether only where the
// file is missing, and the properties it is given.
type ImageMetadataTemplate struct {
	When       []string          `json:"when" yaml:"when"`
	CreateOnly bool              `json:"create_only" yaml:"create_only"`
	Template   string            `json:"template" yaml:"template"`
	Properties map[string]string `json:"properties" yaml:"properties"`
}

// ImageSource is where an image came from, or is to come from: a server,
// its protocol, and the alias or fingerprint there.
type ImageSource struct {
	Alias       string `json:"alias" yaml:"alias"`
	Certificate string `json:"certificate" yaml:"certificate"`
	Protocol    string `json:"protocol" yaml:"protocol"`
	Server      string `json:"server" yaml:"server"`
	ImageType   string `json:"image_type" yaml:"image_type"`
}

// ImagesPostSource is the source of a new image: another server's image,
// an instance or snapshot (publish), or a URL.
type ImagesPostSource struct {
	ImageSource `yaml:",inline"`
	Mode        string `json:"mode" yaml:"mode"`
	Type        string `json:"type" yaml:"type"`
	URL         string `json:"url" yaml:"url"`
	// Name is the instance or instance/snapshot to publish.
	Name        string `json:"name" yaml:"name"`
	Fingerprint string `json:"fingerprint" yaml:"fingerprint"`
	Secret      string `json:"secret" yaml:"secret"`
	Project     string `json:"project" yaml:"project"`
}

// ImageExportPost is the body of POST /1.0/images/<fp>/export: push the
// image to another server (lxc image copy --mode push), which gave Secret
// for it (a token operation of POST /1.0/images in push mode).
type ImageExportPost struct {
	Target      string       `json:"target" yaml:"target"`
	Certificate string       `json:"certificate" yaml:"certificate"`
	Secret      string       `json:"secret" yaml:"secret"`
	Aliases     []ImageAlias `json:"aliases" yaml:"aliases"`
	Project     string       `json:"project" yaml:"project"`
	Profiles    []string     `json:"profiles" yaml:"profiles"`
}

// ImagesPost is the JSON body of POST /1.0/images.
type ImagesPost struct {
	ImagePut             `yaml:",inline"`
	Filename             string            `json:"filename" yaml:"filename"`
	Source               *ImagesPostSource `json:"source" yaml:"source"`
	CompressionAlgorithm string            `json:"compression_algorithm" yaml:"compression_algorithm"`
	Aliases              []ImageAlias      `json:"aliases" yaml:"aliases"`
}
