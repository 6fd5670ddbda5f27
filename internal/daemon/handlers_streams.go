package daemon

import (
	"net/http"
	"os"
)

// The public images as a simplestreams tree (image.StreamsIndex): any
// client may read it, trusted or not; it holds public images only.

func streamsIndexGet(d *Daemon, r *http.Request) response {
	idx, err := d.Images.StreamsIndex(d.imagesProject(r))
	if err != nil {
		return fail(err)
	}
	return rawResp(func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, idx) })
}

func streamsProductsGet(d *Daemon, r *http.Request) response {
	products, err := d.Images.StreamsProducts(d.imagesProject(r))
	if err != nil {
		return fail(err)
	}
	return rawResp(func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, products) })
}

func streamsFileGet(d *Daemon, r *http.Request) response {
	path, err := d.Images.StreamsFile(d.imagesProject(r), r.PathValue("fp"), r.PathValue("file"))
	if err != nil {
		return fail(err)
	}
	return rawResp(func(w http.ResponseWriter) {
		f, err := os.Open(path)
		if err != nil {
			errResp{err}.write(w)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			errResp{err}.write(w)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, r.PathValue("file"), st.ModTime(), f)
	})
}
