package instance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/flosch/pongo2/v6"
	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/store"
)

// applyTemplateKey holds the trigger whose templates the next start
// renders before the start ones: create (made from an image), copy,
// rename. As in LXD, create templates wait for the first start, and a
// copy gets the copy ones, not the create ones again.
const applyTemplateKey = "volatile.apply_template"

// cloudInitIDKey is the instance id cloud-init sees (templates read it
// with config_get, /dev/lxd serves it): new at create, copy and rename,
// so cloud-init runs again for what is a new instance to it.
const cloudInitIDKey = "volatile.cloud-init.instance-id"

// maxRendered bounds what one template may write: templates run in
// lodged, and a loop in one must not fill the disk or the memory.
const maxRendered = 16 << 20

// rendered is one template's output, to write once all rendered.
type rendered struct {
	path       string
	content    []byte
	createOnly bool
}

// applyTemplates renders the instance's templates for its pending
// trigger (applyTemplateKey) and for start, into its mounted rootfs.
// Every template renders before any file is written: one that fails
// fails the start, and leaves the rootfs as it was.
func (s *Service) applyTemplates(e Expanded, rootfs string) error {
	fd, _, err := s.volumeDir(e)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a driver whose volumes are no directories (tests' in-memory one)
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	md, err := readMetadataAt(fd)
	if err != nil {
		return err
	}
	pending := e.Record.Config[applyTemplateKey]
	if len(md.Templates) > 0 {
		var out []rendered
		for _, trigger := range []string{pending, "start"} {
			if trigger == "" {
				continue
			}
			r, err := renderTemplates(fd, e, md, trigger)
			if err != nil {
				return apierr.BadRequest("instance %q: %v", e.Name, err)
			}
			out = append(out, r...)
		}
		uid, gid := int(e.IDMap.ShiftUID(0)), int(e.IDMap.ShiftGID(0))
		for _, r := range out {
			if err := writeInRoot(rootfs, r.path, r.content, uid, gid, r.createOnly); err != nil {
				return fmt.Errorf("instance %q: template for %s: %w", e.Name, r.path, err)
			}
		}
	}
	if pending == "" {
		return nil
	}
	return s.db.Update(func(tx *store.Tx) error {
		var r Record
		if _, err := tx.Get(store.Instances, e.key(), &r); err != nil {
			return err
		}
		delete(r.Config, applyTemplateKey)
		_, err := tx.Put(store.Instances, e.key(), r, 0)
		return err
	})
}

// renderTemplates renders the templates of md that trigger names, with
// LXD's variables: trigger, path, instance (and container), config,
// devices, properties, and config_get(key, default).
func renderTemplates(volfd int, e Expanded, md api.ImageMetadata, trigger string) ([]rendered, error) {
	paths := make([]string, 0, len(md.Templates))
	for p := range md.Templates {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	meta := map[string]string{"name": e.Name, "type": e.Type, "architecture": e.Architecture,
		"ephemeral": fmt.Sprint(e.Ephemeral), "privileged": fmt.Sprint(keys.IsTrue(e.Config, "security.privileged"))}
	if meta["type"] == "" {
		meta["type"] = typeContainer
	}
	var out []rendered
	for _, p := range paths {
		tpl := md.Templates[p]
		if tpl == nil || !contains(tpl.When, trigger) {
			continue
		}
		if err := checkTemplateName(tpl.Template); err != nil {
			return nil, fmt.Errorf("template for %s: %v", p, err)
		}
		src, err := readBounded(volfd, "templates/"+tpl.Template)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("template for %s: templates/%s does not exist", p, tpl.Template)
			}
			return nil, fmt.Errorf("template for %s: %v", p, err)
		}
		// No includes or imports: a template reads nothing but itself.
		set := pongo2.NewSet("instance", noLoader{})
		t, err := set.FromString("{% autoescape off %}" + string(src) + "{% endautoescape %}")
		if err != nil {
			return nil, fmt.Errorf("template %s (for %s): %v", tpl.Template, p, err)
		}
		props := tpl.Properties
		if props == nil {
			props = map[string]string{}
		}
		ctx := pongo2.Context{
			"trigger": trigger, "path": p, "instance": meta, "container": meta,
			"config": e.Config, "devices": e.Devices, "properties": props,
			"config_get": func(key, def *pongo2.Value) *pongo2.Value {
				v, ok := e.Config[key.String()]
				if !ok {
					return def
				}
				return pongo2.AsValue(strings.TrimRight(v, "\r\n"))
			},
		}
		var buf boundedBuffer
		if err := t.ExecuteWriter(ctx, &buf); err != nil {
			return nil, fmt.Errorf("template %s (for %s): %v", tpl.Template, p, err)
		}
		out = append(out, rendered{path: p, content: buf.Bytes(), createOnly: tpl.CreateOnly})
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// noLoader refuses every include: templates come from images.
type noLoader struct{}

func (noLoader) Abs(base, name string) string { return name }
func (noLoader) Get(path string) (io.Reader, error) {
	return nil, fmt.Errorf("templates may not include other files (%s)", path)
}

// boundedBuffer refuses output past maxRendered.
type boundedBuffer struct{ bytes.Buffer }

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, fmt.Errorf("the rendered file is over %d MiB", maxRendered>>20)
	}
	return b.Buffer.Write(p)
}

// writeInRoot writes content at path inside the root rootfs, making its
// missing parents, resolving every link inside the root (walker), so a
// link the instance planted cannot lead the write to the host. A new file
// or directory belongs to the instance's root (uid, gid on the host).
// With createOnly an existing file is left alone.
func writeInRoot(rootfs, path string, content []byte, uid, gid int, createOnly bool) error {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	comps := strings.Split(path, "/")
	walkTo := func(upTo int) (*walker, string, error) {
		fd, err := unix.Dup(root)
		if err != nil {
			return nil, "", err
		}
		w := &walker{stack: []int{fd}}
		final, err := w.walk(comps[:upTo], true)
		if err != nil {
			w.close()
			return nil, "", err
		}
		return w, final, nil
	}
	for i := 1; i < len(comps); i++ {
		w, final, err := walkTo(i)
		if err != nil {
			return err
		}
		if final != "" {
			err = unix.Mkdirat(w.top(), final, 0o755)
			if err == nil {
				err = unix.Fchownat(w.top(), final, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
			} else if errors.Is(err, unix.EEXIST) {
				err = nil
			}
		}
		w.close()
		if err != nil {
			return err
		}
	}
	w, final, err := walkTo(len(comps))
	if err != nil {
		return err
	}
	defer w.close()
	if final == "" {
		return apierr.BadRequest("%s is the instance's root", path)
	}
	f, err := openRegular(w.top(), final, unix.O_WRONLY)
	switch {
	case err == nil && createOnly:
		f.Close()
		return nil
	case err == nil:
		err = f.Truncate(0)
	case errors.Is(err, unix.ENOENT):
		if f, err = createRegular(w.top(), final, 0o644); err == nil {
			err = f.Chown(uid, gid)
		}
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return fileErr(path, err)
	}
	defer f.Close()
	_, err = f.Write(content)
	return err
}
