package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/internal/hostcheck"
)

// cmdCheck is `lodge check`: what this host's kernel and tools offer
// Lodge, as lxc-checkconfig prints it. It reads the host it runs on, not
// a remote, and needs no lodged.
func cmdCheck() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check what this host offers Lodge (kernel features, cgroups, filesystems, tools)",
		Long: `Check what this host's kernel and tools offer Lodge: namespaces, cgroup v1 or
v2 and its controllers, idmapped mounts under overlayfs, filesystems, seccomp,
AppArmor, dnsmasq, nftables, lxcfs, CRIU, QEMU and KVM; for each, what Lodge
uses it for. Run as root, it also probes: an idmapped overlay in the state
directory ($LODGE_DIR or /var/lib/lodge), criu check, and making a KVM VM.
It exits 1 when a part Lodge cannot run containers without is missing.`,
		Annotations: map[string]string{ownRemotes: "yes"},
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := hostcheck.Host{}.Check()
			scratch := os.TempDir()
			if st, err := os.Stat(lodgeDir()); err == nil && st.IsDir() {
				scratch = lodgeDir()
			}
			hostcheck.Probe(cmd.Context(), filepath.Join(scratch, ".check-probe"), &r)
			switch format {
			case "yaml":
				out, err := yaml.Marshal(r)
				if err != nil {
					return err
				}
				_, _ = cmd.OutOrStdout().Write(out)
			case "", "text":
				printCheck(cmd.OutOrStdout(), r)
			default:
				return fmt.Errorf("--format %q: text or yaml", format)
			}
			var missing []string
			for _, it := range r.Missing() {
				if it.Required {
					missing = append(missing, it.Name)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("this host lacks what Lodge needs to run containers: %s", strings.Join(missing, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or yaml")
	return cmd
}

func printCheck(w io.Writer, r hostcheck.Report) {
	fmt.Fprintf(w, "Kernel: %s\ncgroups: %s\n", r.Kernel, r.CgroupVersion)
	area := ""
	for _, it := range r.Items {
		if it.Area != area {
			area = it.Area
			fmt.Fprintf(w, "\n--- %s ---\n", area)
		}
		state := "ok"
		switch {
		case !it.OK && it.Required:
			state = "MISSING (required)"
		case !it.OK:
			state = "missing"
		}
		fmt.Fprintf(w, "%-32s %s\n", it.Name+":", state)
		if it.Detail != "" {
			fmt.Fprintf(w, "    %s\n", it.Detail)
		}
		if it.For != "" {
			fmt.Fprintf(w, "    for: %s\n", it.For)
		}
	}
}
