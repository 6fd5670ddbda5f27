package instance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/durable"
)

// An instance's metadata.yaml and templates/ sit beside its rootfs/ in
// its volume, copied from its image: lxc config metadata and lxc config
// template edit them, and its templates are rendered from them. They came
// from an image, so they are read as untrusted: bounded, regular files
// only, no links followed.

// maxMetadata bounds metadata.yaml and each template file.
const maxMetadata = 1 << 20

// triggers are when templates are rendered.
var triggers = []string{"create", "copy", "start", "rename"}

// readBounded reads a regular file at name under dirfd (no link
// followed, at most maxMetadata bytes); a missing file is os.ErrNotExist.
func readBounded(dirfd int, name string) ([]byte, error) {
	fd, err := unix.Openat2(dirfd, name, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
	if errors.Is(err, unix.ENOENT) {
		return nil, os.ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > maxMetadata {
		return nil, apierr.BadRequest("%s is not a regular file under 1 MiB", name)
	}
	return io.ReadAll(io.LimitReader(f, maxMetadata+1))
}

// volumeDir opens the volume's directory (the instance's, mounted).
func (s *Service) volumeDir(e Expanded) (int, string, error) {
	pool, vol, err := s.poolOf(e)
	if err != nil {
		return -1, "", err
	}
	if err := pool.MountVolume(vol); err != nil {
		return -1, "", fmt.Errorf("mount the volume of %q: %w", e.Name, err)
	}
	dir := pool.VolumePath(vol)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open the volume of %q: %w", e.Name, err)
	}
	return fd, dir, nil
}

// readMetadataAt parses metadata.yaml in the volume directory dirfd; an
// instance without one has empty metadata.
func readMetadataAt(dirfd int) (api.ImageMetadata, error) {
	var md api.ImageMetadata
	data, err := readBounded(dirfd, "metadata.yaml")
	if errors.Is(err, os.ErrNotExist) {
		return md, nil
	}
	if err != nil {
		return md, err
	}
	if err := yaml.Unmarshal(data, &md); err != nil {
		return md, apierr.BadRequest("the instance's metadata.yaml: %v", err)
	}
	return md, nil
}

// Metadata is an instance's metadata.yaml (GET .../metadata).
func (s *Service) Metadata(key string) (api.ImageMetadata, error) {
	e, _, err := s.load(key)
	if err != nil {
		return api.ImageMetadata{}, err
	}
	fd, _, err := s.volumeDir(e)
	if err != nil {
		return api.ImageMetadata{}, err
	}
	defer unix.Close(fd)
	return readMetadataAt(fd)
}

// SetMetadata replaces an instance's metadata.yaml (PUT .../metadata),
// after checking each template names a trigger Lodge has and a file of
// the instance's templates/.
func (s *Service) SetMetadata(key string, md api.ImageMetadata) error {
	defer s.lock(key)()
	e, _, err := s.load(key)
	if err != nil {
		return err
	}
	fd, dir, err := s.volumeDir(e)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	paths := make([]string, 0, len(md.Templates))
	for p := range md.Templates {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		tpl := md.Templates[p]
		if tpl == nil {
			return apierr.BadRequest("template for %s: empty", p)
		}
		if !strings.HasPrefix(p, "/") {
			return apierr.BadRequest("template for %q: the path must be absolute (a path in the instance)", p)
		}
		for _, w := range tpl.When {
			if !slices.Contains(triggers, w) {
				return apierr.BadRequest("template for %s: when %q is not one of %s", p, w, strings.Join(triggers, ", "))
			}
		}
		if err := checkTemplateName(tpl.Template); err != nil {
			return apierr.BadRequest("template for %s: %v", p, err)
		}
		if _, err := readBounded(fd, "templates/"+tpl.Template); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return apierr.BadRequest("template for %s: templates/%s does not exist (lodge config template create adds it)", p, tpl.Template)
			}
			return apierr.BadRequest("template for %s: %v", p, err)
		}
	}
	data, err := yaml.Marshal(md)
	if err != nil {
		return err
	}
	return writeVolumeFile(dir, "metadata.yaml", data)
}

// checkTemplateName refuses a template file name that is not one plain
// name in templates/.
func checkTemplateName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%q is not a file name in templates/ (no slashes)", name)
	}
	return nil
}

// writeVolumeFile replaces a file of the volume's directory (host-owned,
// beside rootfs/) through a temporary file and a rename, so a crash
// leaves the old file or the new.
func writeVolumeFile(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, "."+filepath.Base(name)+".tmp")
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	f.Close()
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return durable.Dir(filepath.Dir(filepath.Join(dir, name)))
}

// Templates lists the files of an instance's templates/.
func (s *Service) Templates(key string) ([]string, error) {
	e, _, err := s.load(key)
	if err != nil {
		return nil, err
	}
	_, dir, err := s.volumeDir(e)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(dir, "templates"))
	if errors.Is(err, os.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, en := range entries {
		if en.Type().IsRegular() {
			out = append(out, en.Name())
		}
	}
	return out, nil
}

// Template reads one template file.
func (s *Service) Template(key, name string) ([]byte, error) {
	if err := checkTemplateName(name); err != nil {
		return nil, apierr.BadRequest("%v", err)
	}
	e, _, err := s.load(key)
	if err != nil {
		return nil, err
	}
	fd, _, err := s.volumeDir(e)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	data, err := readBounded(fd, "templates/"+name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, apierr.NotFound("template %q", name)
	}
	return data, err
}

// SetTemplate creates or replaces a template file.
func (s *Service) SetTemplate(key, name string, body io.Reader) error {
	if err := checkTemplateName(name); err != nil {
		return apierr.BadRequest("%v", err)
	}
	data, err := io.ReadAll(io.LimitReader(body, maxMetadata+1))
	if err != nil {
		return err
	}
	if len(data) > maxMetadata {
		return apierr.BadRequest("template %q is over 1 MiB", name)
	}
	defer s.lock(key)()
	e, _, err := s.load(key)
	if err != nil {
		return err
	}
	_, dir, err := s.volumeDir(e)
	if err != nil {
		return err
	}
	tdir := filepath.Join(dir, "templates")
	if err := os.Mkdir(tdir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if st, err := os.Lstat(tdir); err != nil || !st.IsDir() {
		return fmt.Errorf("the instance's templates/ is not a directory")
	}
	return writeVolumeFile(tdir, name, data)
}

// DeleteTemplate removes a template file.
func (s *Service) DeleteTemplate(key, name string) error {
	if err := checkTemplateName(name); err != nil {
		return apierr.BadRequest("%v", err)
	}
	defer s.lock(key)()
	e, _, err := s.load(key)
	if err != nil {
		return err
	}
	fd, _, err := s.volumeDir(e)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tfd, err := unix.Openat2(fd, "templates", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		return apierr.NotFound("template %q", name)
	}
	defer unix.Close(tfd)
	if err := unix.Unlinkat(tfd, name, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return apierr.NotFound("template %q", name)
		}
		return err
	}
	return nil
}
