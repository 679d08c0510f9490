// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status)
// computes for one Kubernetes object: the status that Flux, Config Sync and
// kpt wait on. It reads the object as JSON on stdin and writes one JSON line,
// {"status": "...", "message": "..."}, so the tests can check that the
// conditions and observedGeneration the operator writes read as Current,
// InProgress or Failed exactly as intended. Built by tests/env/build-kstatus.sh.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: reading stdin: %v\n", err)
		os.Exit(2)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(raw); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: not a Kubernetes object: %v\n", err)
		os.Exit(2)
	}
	res, err := status.Compute(obj)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
	out, err := json.Marshal(result{Status: res.Status.String(), Message: res.Message})
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
