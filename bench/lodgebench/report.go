package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

type sample struct {
	values map[string][]float64 // by daemon
	target string
	unit   string // "s" or "" (raw)
}

type report struct {
	order   []string
	samples map[string]*sample
}

func newReport() *report { return &report{samples: map[string]*sample{}} }

func (r *report) get(figure, target, unit string) *sample {
	s, ok := r.samples[figure]
	if !ok {
		s = &sample{values: map[string][]float64{}, target: target, unit: unit}
		r.samples[figure] = s
		r.order = append(r.order, figure)
	}
	return s
}

func (r *report) add(figure, target, daemon string, v float64) {
	unit := "s"
	if strings.Contains(figure, "/s") {
		unit = ""
	}
	s := r.get(figure, target, unit)
	s.values[daemon] = append(s.values[daemon], v)
}

func (r *report) mem(figure, target string, by map[string]float64) {
	s := r.get(figure, target, "")
	for d, v := range by {
		s.values[d] = append(s.values[d], v)
	}
	fmt.Printf("%-44s%s\n", figure, r.line(figure))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := append([]float64{}, v...)
	sort.Float64s(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func minMax(v []float64) (float64, float64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

func (s *sample) cell(d string) string {
	v := s.values[d]
	if len(v) == 0 {
		return "-"
	}
	m := median(v)
	lo, hi := minMax(v)
	if s.unit == "s" {
		return fmt.Sprintf("%s (%s–%s)", dur(m), dur(lo), dur(hi))
	}
	if len(v) == 1 {
		return fmt.Sprintf("%.2f", m)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", m, lo, hi)
}

func dur(s float64) string {
	switch {
	case s < 0.001:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.1fms", s*1e3)
	}
	return fmt.Sprintf("%.2fs", s)
}

func (s *sample) ratio() string {
	a, b := median(s.values["LXD"]), median(s.values["Lodge"])
	if a == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", b/a)
}

func (r *report) line(figure string) string {
	s := r.samples[figure]
	return fmt.Sprintf("LXD %-26s Lodge %-26s ratio %s", s.cell("LXD"), s.cell("Lodge"), s.ratio())
}

func version(pkg string) string {
	out, _ := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	return string(out)
}

func (r *report) write(path, load, label string, appendTo bool) error {
	var b strings.Builder
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	cg := "v1 (hybrid)"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cg = "v2"
	}
	if !appendTo {
		b.WriteString("# Lodge vs LXD\n\n")
	}
	fmt.Fprintf(&b, "## Pools on %s\n\nMeasured %s by `make bench` on this project's test machine (2 cores): kernel %s, cgroup %s, LXD %s (Debian `lxd`), lxc %s (Debian `lxd-client`), both driven by the same lxc client, the two daemons alternated, each on a fresh scratch directory with a `dir` pool on the same filesystem (%s). Load average at the end: %s.\n\n",
		label, time.Now().UTC().Format("2006-01-02 15:04 MST"), strings.TrimSpace(string(kernel)), cg, version("lxd"), version("lxd-client"), label, load)
	b.WriteString("Times are median (min–max). Ratio is Lodge/LXD (lower is better for times and memory).\n\n")
	b.WriteString("| figure | LXD | Lodge | ratio | target |\n|---|---|---|---|---|\n")
	for _, f := range r.order {
		s := r.samples[f]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", f, s.cell("LXD"), s.cell("Lodge"), s.ratio(), s.target)
	}
	b.WriteString("\n")
	if appendTo {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString(b.String())
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
