package metrics

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Label is one label of a sample.
type Label struct{ Name, Value string }

type sample struct {
	labels []Label // sorted by name
	value  float64
}

// Set holds samples by family.
type Set struct {
	samples [numFamilies][]sample
}

// Add records a sample of family f. labels are name, value pairs.
func (s *Set) Add(f Family, value float64, labels ...Label) {
	ls := append([]Label(nil), labels...)
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	s.samples[f] = append(s.samples[f], sample{labels: ls, value: value})
}

// Merge adds o's samples to s.
func (s *Set) Merge(o *Set) {
	for f := range o.samples {
		s.samples[f] = append(s.samples[f], o.samples[f]...)
	}
}

// WriteTo writes the set in the Prometheus text format: each family that
// has samples, once, with its HELP and TYPE lines, and "# EOF" at the end
// as LXD writes it (a comment to Prometheus's text parser).
func (s *Set) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := &countingWriter{w: bw}
	var num []byte
	for f, ss := range s.samples {
		if len(ss) == 0 {
			continue
		}
		fam := families[f]
		typ := "gauge"
		if fam.counter {
			typ = "counter"
		}
		cw.str("# HELP " + fam.name + " " + fam.help + "\n# TYPE " + fam.name + " " + typ + "\n")
		for _, x := range ss {
			cw.str(fam.name)
			if len(x.labels) > 0 {
				cw.str("{")
				for i, l := range x.labels {
					if i > 0 {
						cw.str(",")
					}
					cw.str(l.Name + `="`)
					cw.str(escapeLabel(l.Value))
					cw.str(`"`)
				}
				cw.str("}")
			}
			cw.str(" ")
			num = strconv.AppendFloat(num[:0], x.value, 'g', -1, 64)
			cw.bytes(num)
			cw.str("\n")
		}
	}
	cw.str("# EOF\n")
	if cw.err == nil {
		cw.err = bw.Flush()
	}
	return cw.n, cw.err
}

// labelEscaper escapes what the text format requires in a label value:
// names of devices and mount points come from the host and from inside
// instances, and must not break a line or close a quote.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return labelEscaper.Replace(v)
}

type countingWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countingWriter) str(s string) {
	if c.err != nil {
		return
	}
	n, err := c.w.WriteString(s)
	c.n += int64(n)
	c.err = err
}

func (c *countingWriter) bytes(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}
