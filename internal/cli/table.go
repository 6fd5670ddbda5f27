package cli

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// renderTable prints rows as a bordered table, like lxc does.
func renderTable(w io.Writer, header []string, rows [][]string) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			for _, line := range strings.Split(c, "\n") {
				widths[i] = max(widths[i], utf8.RuneCountInString(line))
			}
		}
	}
	sep := "+"
	for _, wd := range widths {
		sep += strings.Repeat("-", wd+2) + "+"
	}
	line := func(cells []string) {
		height := 1
		for _, c := range cells {
			height = max(height, strings.Count(c, "\n")+1)
		}
		for l := 0; l < height; l++ {
			fmt.Fprint(w, "|")
			for i, c := range cells {
				parts := strings.Split(c, "\n")
				text := ""
				if l < len(parts) {
					text = parts[l]
				}
				fmt.Fprintf(w, " %s%s |", text, strings.Repeat(" ", widths[i]-utf8.RuneCountInString(text)))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, sep)
	line(header)
	fmt.Fprintln(w, sep)
	for _, r := range rows {
		line(r)
		fmt.Fprintln(w, sep)
	}
}

// renderList prints in the chosen --format: table, csv, json or yaml.
func renderList(w io.Writer, format string, header []string, rows [][]string, raw any) error {
	switch format {
	case "table", "":
		renderTable(w, header, rows)
	case "csv":
		cw := csv.NewWriter(w)
		for _, r := range rows {
			_ = cw.Write(r)
		}
		cw.Flush()
		return cw.Error()
	case "json":
		return printJSON(w, raw)
	case "yaml":
		return yaml.NewEncoder(w).Encode(raw)
	default:
		return fmt.Errorf("unknown format %q: use table, csv, json or yaml", format)
	}
	return nil
}
