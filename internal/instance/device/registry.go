package device

// types is the one place device types are listed: a new device type is
// one file in this package and one line here.
var types = map[string]Type{
	"disk":       disk{},
	"unix-char":  unixDev{block: false},
	"unix-block": unixDev{block: true},
	"nic":        nic{},
	"proxy":      proxyType{},
	"none":       none{},
}
