package daemon

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRoutesRegister builds the mux: overlapping patterns panic here, not in lodged.
func TestRoutesRegister(t *testing.T) {
	d := &Daemon{Log: slog.Default()}
	h := d.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("unknown path: status %d", rec.Code)
	}
}
