package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
)

// lodge config trust: the server's trusted client certificates and its
// trust tokens, as lxc config trust manages them.

func cmdConfigTrust() *cobra.Command {
	cmd := &cobra.Command{Use: "trust", Short: "Manage the clients the server trusts"}
	var name string
	add := &cobra.Command{
		Use:   "add [REMOTE:] [CERT-FILE]",
		Short: "Trust a client: by its certificate file, or (none given) print a single-use token for it",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			args = withoutEmpty(args)
			c := connect()
			if len(args) == 1 {
				pem, err := os.ReadFile(args[0])
				if err != nil {
					return err
				}
				req := api.CertificatesPost{CertificatePut: api.CertificatePut{Type: "client", Name: name, Certificate: string(pem)}}
				_, _, err = c.Query("POST", "/1.0/certificates", req, "")
				return err
			}
			if name == "" {
				return fmt.Errorf("give the client a name: lodge config trust add --name NAME")
			}
			resp, _, err := c.Query("POST", "/1.0/certificates", api.CertificatesPost{Token: true, CertificatePut: api.CertificatePut{Type: "client", Name: name}}, "")
			if err != nil {
				return err
			}
			var op api.Operation
			if err := json.Unmarshal(resp.Metadata, &op); err != nil {
				return err
			}
			tok, err := tokenOf(op)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Client %s certificate add token:\n%s\n", name, tok)
			return nil
		},
	}
	add.Flags().StringVar(&name, "name", "", "the client's name")
	list := &cobra.Command{
		Use: "list [REMOTE:]", Short: "List the trusted certificates",
		RunE: func(cmd *cobra.Command, args []string) error {
			var certs []api.Certificate
			if _, err := connect().Get("/1.0/certificates?recursion=1", &certs); err != nil {
				return err
			}
			sort.Slice(certs, func(i, j int) bool { return certs[i].Name < certs[j].Name })
			var rows [][]string
			for _, c := range certs {
				rows = append(rows, []string{c.Type, c.Name, c.Fingerprint[:12]})
			}
			return renderList(cmd.OutOrStdout(), "table", []string{"TYPE", "NAME", "FINGERPRINT"}, rows, certs)
		},
	}
	remove := &cobra.Command{
		Use: "remove [REMOTE:]FINGERPRINT", Short: "Stop trusting a certificate (its open connections end too)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := connect().Query("DELETE", "/1.0/certificates/"+args[0], nil, "")
			return err
		},
	}
	listTokens := &cobra.Command{
		Use: "list-tokens [REMOTE:]", Short: "List the tokens not used yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			ops, err := tokenOps()
			if err != nil {
				return err
			}
			var rows [][]string
			for _, op := range ops {
				tok, _ := tokenOf(op)
				expires, _ := op.Metadata["expiresAt"].(string)
				rows = append(rows, []string{tokenName(op), tok, expires})
			}
			return renderList(cmd.OutOrStdout(), "table", []string{"NAME", "TOKEN", "EXPIRES AT"}, rows, ops)
		},
	}
	revoke := &cobra.Command{
		Use: "revoke-token [REMOTE:]NAME", Short: "Cancel a token not used yet", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ops, err := tokenOps()
			if err != nil {
				return err
			}
			for _, op := range ops {
				if tokenName(op) == args[0] {
					_, _, err := connect().Query("DELETE", "/1.0/operations/"+op.ID, nil, "")
					return err
				}
			}
			return fmt.Errorf("no token for a client named %q", args[0])
		},
	}
	cmd.AddCommand(add, list, remove, listTokens, revoke)
	return cmd
}

// tokenOps are the server's running trust token operations.
func tokenOps() ([]api.Operation, error) {
	var byStatus map[string][]api.Operation
	if _, err := connect().Get("/1.0/operations?recursion=1", &byStatus); err != nil {
		return nil, err
	}
	var out []api.Operation
	for _, op := range byStatus["running"] {
		if _, ok := op.Metadata["request"]; ok && op.Class == "token" {
			out = append(out, op)
		}
	}
	return out, nil
}

func tokenName(op api.Operation) string {
	req, _ := op.Metadata["request"].(map[string]any)
	name, _ := req["name"].(string)
	return name
}

// tokenOf is the token a token operation stands for, as a client is given
// it: base64 JSON of the client's name, the server's fingerprint and
// addresses, and the secret.
func tokenOf(op api.Operation) (string, error) {
	md := op.Metadata
	tok := map[string]any{"client_name": tokenName(op), "fingerprint": md["fingerprint"], "addresses": md["addresses"], "secret": md["secret"]}
	if e, ok := md["expiresAt"]; ok {
		tok["expires_at"] = e
	}
	data, err := json.Marshal(tok)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(data), nil
}
