// olm-validate checks an OLM bundle directory (manifests/ and metadata/) with operator-framework/api's
// own validators, as operator-sdk's `bundle validate` does: the bundle loaded by pkg/manifests, then
// pkg/validation's default bundle suite (CSV, CRDs, bundle), the OperatorHub suites (OperatorHubV2,
// standard categories and capabilities), good practices, object and deprecated-API checks.
//
//	olm-validate [-k8s-version 1.30] BUNDLE_DIR
//
// It prints every error and warning, one a line, and exits 1 when there is an error (2 when the
// bundle cannot even be loaded).
//
//	olm-validate -crds
//
// prints OLM's own CRDs (ClusterServiceVersion, Subscription, OperatorGroup, ...) as the module
// carries them, for installing into a test API server.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/operator-framework/api/crds"
	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
	"github.com/operator-framework/api/pkg/validation/errors"
)

func main() {
	k8sVersion := flag.String("k8s-version", "", "the Kubernetes version the deprecated-API and OperatorHub checks judge for (default: the CSV's minKubeVersion)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: olm-validate [-k8s-version X.Y] BUNDLE_DIR\n")
		flag.PrintDefaults()
	}
	printCRDs := flag.Bool("crds", false, "print OLM's CRDs (YAML) instead of validating")
	flag.Parse()
	if *printCRDs {
		names := crds.AssetNames()
		sort.Strings(names)
		for _, name := range names {
			fmt.Printf("---\n%s", crds.MustAsset(name))
		}
		return
	}
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	bundle, err := manifests.GetBundleFromDir(flag.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "olm-validate: the bundle in %s cannot be loaded: %v\n", flag.Arg(0), err)
		os.Exit(2)
	}
	version := *k8sVersion
	if version == "" && bundle.CSV != nil {
		version = bundle.CSV.Spec.MinKubeVersion
	}
	objects := append(bundle.ObjectsToValidate(), map[string]string{"k8s-version": version})
	for _, obj := range bundle.Objects {
		objects = append(objects, obj)
	}
	suites := validation.DefaultBundleValidators.WithValidators(
		validation.OperatorHubV2Validator,
		validation.StandardCategoriesValidator,
		validation.StandardCapabilitiesValidator,
		validation.GoodPracticesValidator,
		validation.ObjectValidator,
		validation.AlphaDeprecatedAPIsValidator,
	)
	var lines []string
	failed := false
	for _, result := range suites.Validate(objects...) {
		for _, e := range result.Errors {
			lines = append(lines, describe("ERROR", result.Name, e))
			failed = true
		}
		for _, w := range result.Warnings {
			lines = append(lines, describe("WARN", result.Name, w))
		}
	}
	sort.Strings(lines)
	for _, line := range lines {
		fmt.Println(line)
	}
	fmt.Printf("olm-validate: %s: %d objects checked by %d validators\n", bundle.Name, len(objects)-1, len(suites))
	if failed {
		os.Exit(1)
	}
}

func describe(level, name string, e errors.Error) string {
	return fmt.Sprintf("%s %s: %s", level, name, e.Error())
}
