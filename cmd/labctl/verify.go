package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/labctl/labctl/scenarios"
	"github.com/labctl/labctl/scenarios/check"
)

func newVerifyCmd() *cobra.Command {
	var junit string
	cmd := &cobra.Command{
		Use:   "verify SCENARIO",
		Short: "Run the scenario's checks against a lab that is up",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := loadLab(args[0])
			if err != nil {
				return err
			}
			sc, err := scenarios.Find(st.Source)
			if err != nil {
				return err
			}
			results, runErr := converge(cmd.Context(), cmd.OutOrStdout(), st, sc)
			if junit != "" {
				f, err := os.Create(junit)
				if err != nil {
					return err
				}
				err = check.WriteJUnit(f, sc.Name, results)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("write %s: %w", junit, err)
				}
			}
			if runErr != nil {
				return fmt.Errorf("scenario %s: %w", sc.Name, runErr)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "scenario %s: all %d checks passed\n", sc.Name, len(results))
			return nil
		},
	}
	cmd.Flags().StringVar(&junit, "junit", "", "also write the results as JUnit XML to this file")
	return cmd
}
