// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status)
// computes for one Kubernetes object: the status that Flux, Config Sync and
// kpt wait on. It reads the object as JSON on stdin and writes one JSON line,
// {"status": "...", "message": "..."}, so the tests can check that the
// conditions and observedGeneration the operator writes read as Current,
// InProgress or Failed exactly as intended. Built by tests/env/build-kstatus.sh.
//
// With -argocd-health FILE it instead runs the Argo CD health check in FILE
// (deploy/argocd/health.lua) in gopher-lua, the Lua 5.1 interpreter Argo CD
// embeds, and prints the {"status", "message"} the script returns, in the same
// one-line JSON shape.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	argocdHealth := flag.String("argocd-health", "",
		"run this Argo CD health check (Lua) in gopher-lua instead of kstatus")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "kstatus: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: reading stdin: %v\n", err)
		os.Exit(2)
	}
	var res result
	if *argocdHealth != "" {
		res = runArgoCDHealth(*argocdHealth, raw)
	} else {
		res = runKstatus(raw)
	}
	out, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

func runKstatus(raw []byte) result {
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
	return result{Status: res.Status.String(), Message: res.Message}
}

// runArgoCDHealth runs the health check script the way Argo CD does: a fresh
// gopher-lua state with only the safe libraries opened, the object as the
// global obj, the script's text loaded as a chunk, and the table it returns
// read for status and message. Any Lua error, or a result that is not such a
// table, exits 1 with the reason on stderr.
func runArgoCDHealth(path string, raw []byte) result {
	script, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(2)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: not a JSON object: %v\n", err)
		os.Exit(2)
	}

	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	// Argo CD gives a health script one second.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)

	L.SetGlobal("obj", toLua(L, obj))
	top := L.GetTop()
	if err := L.DoString(string(script)); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %s: %v\n", path, err)
		os.Exit(1)
	}
	if L.GetTop() == top {
		fmt.Fprintf(os.Stderr, "kstatus: %s returned nothing, want a table\n", path)
		os.Exit(1)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		fmt.Fprintf(os.Stderr, "kstatus: %s returned a %s, want a table\n", path, L.Get(-1).Type())
		os.Exit(1)
	}
	st, ok := hs.RawGetString("status").(lua.LString)
	if !ok {
		fmt.Fprintf(os.Stderr, "kstatus: %s: status is a %s, want a string\n",
			path, hs.RawGetString("status").Type())
		os.Exit(1)
	}
	var msg string
	switch m := hs.RawGetString("message").(type) {
	case lua.LString:
		msg = string(m)
	case *lua.LNilType:
	default:
		fmt.Fprintf(os.Stderr, "kstatus: %s: message is a %s, want a string\n", path, m.Type())
		os.Exit(1)
	}
	return result{Status: string(st), Message: msg}
}

// toLua converts a value decoded from JSON into Lua: objects become tables
// keyed by string, arrays 1-based sequences (a null element is skipped, as
// LTable.Append does), numbers LNumber (a float64, as every number in Lua 5.1),
// booleans LBool and null nil.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetString(key, toLua(L, item))
		}
		return t
	default:
		panic(fmt.Sprintf("kstatus: unexpected JSON value %T", v))
	}
}
