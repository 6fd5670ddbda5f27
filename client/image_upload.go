package client

import (
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
)

// ImageUpload is the body of an image upload (POST /1.0/images) made
// from an image's files: a unified tarball as itself, or a metadata
// tarball and a rootfs as a multipart form of the two, as LXD sends
// them.
type ImageUpload struct {
	Body        io.Reader
	ContentType string
	// Close ends the upload's reading of the files.
	Close func()
}

// ImageUploadOf opens files (one unified tarball, or metadata and rootfs)
// for an upload.
func ImageUploadOf(files ...string) (ImageUpload, error) {
	if len(files) == 1 {
		f, err := os.Open(files[0])
		if err != nil {
			return ImageUpload{}, err
		}
		return ImageUpload{Body: f, ContentType: "application/octet-stream", Close: func() { f.Close() }}, nil
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for i, part := range []string{"metadata", "rootfs"} {
			f, err := os.Open(files[i])
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			w, _ := mw.CreateFormFile(part, filepath.Base(files[i]))
			_, err = io.Copy(w, f)
			f.Close()
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	// Closing the reader ends a writer whose upload stopped early.
	return ImageUpload{Body: pr, ContentType: mw.FormDataContentType(), Close: func() { pr.Close() }}, nil
}
