package resources

import (
	"bufio"
	"os"
	"strings"
	"sync"
)

// pciNames is the PCI id database (Debian's pci.ids package), read once
// when first needed: vendor names by id, and product names by
// vendor and product id.
type pciNames struct {
	once     sync.Once
	vendors  map[string]string
	products map[[2]string]string
}

var pciDB pciNames

// pciIDsFiles are where Debian keeps the database.
var pciIDsFiles = []string{"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"}

func (p *pciNames) load() {
	p.vendors, p.products = map[string]string{}, map[[2]string]string{}
	for _, path := range pciIDsFiles {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		vendor := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "" || line[0] == '#':
			case line[0] != '\t':
				// "1af4  Red Hat, Inc." (or the class list, which ends
				// the vendors: "C 00 ...").
				if strings.HasPrefix(line, "C ") {
					return
				}
				if id, name, ok := strings.Cut(line, "  "); ok {
					vendor = id
					p.vendors[id] = name
				}
			case len(line) > 1 && line[1] != '\t' && vendor != "":
				if id, name, ok := strings.Cut(line[1:], "  "); ok {
					p.products[[2]string{vendor, id}] = name
				}
			}
		}
		return
	}
}

// name is a PCI vendor's and product's names ("" where unknown).
func (p *pciNames) name(vendor, product string) (string, string) {
	p.once.Do(p.load)
	return p.vendors[vendor], p.products[[2]string{vendor, product}]
}
