"""The GitOps health checks run for real: Argo CD's Lua check in four interpreters, and kstatus.

Argo CD runs deploy/argocd/health.lua in gopher-lua (github.com/yuin/gopher-lua,
the Lua 5.1 dialect) with the resource as the global ``obj`` and reads the
returned ``{status, message}``.  Here it runs the same way in:

- gopher-lua itself: tests/env/kstatus built by tests/env/build-kstatus.sh,
  run with ``-argocd-health`` (safe libraries only, ``obj`` decoded from JSON
  into Lua tables as Argo CD does, every number a float64);
- Lua 5.1 (the dialect gopher-lua implements) and Lua 5.4, through ``lupa``;
- Debian's ``lua5.4`` binary (tests/env/install-debs.sh installs it).

The same tests/env/kstatus binary, without flags, runs kstatus's
``status.Compute`` (sigs.k8s.io/cli-utils).  Why this module exists: the
unit tests feed these hand-written statuses and the integration tests feed
them statuses the real operator wrote; both run the same interpreters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import lupa.lua51
import lupa.lua54

from tests.helpers.paths import REPO

HEALTH_LUA = REPO / "deploy" / "argocd" / "health.lua"
BUILD_KSTATUS = REPO / "tests" / "env" / "build-kstatus.sh"

LUPA_RUNTIMES = {"lua51": lupa.lua51, "lua54": lupa.lua54}


def run_lupa_runtime(runtime: str, obj: dict[str, Any]) -> tuple[str, str]:
    """The check in one of lupa's Lua runtimes: "lua51" or "lua54"."""
    lua = LUPA_RUNTIMES[runtime].LuaRuntime()
    assert lua.lua_version == (5, int(runtime[-1])), lua.lua_version
    lua.globals().obj = lua.table_from(obj, recursive=True)
    hs = lua.execute(HEALTH_LUA.read_text())
    return str(hs["status"]), str(hs["message"])


def run_lupa(obj: dict[str, Any]) -> tuple[str, str]:
    """The check's (status, message) in Lua 5.1 and Lua 5.4, which must agree."""
    lua51 = run_lupa_runtime("lua51", obj)
    lua54 = run_lupa_runtime("lua54", obj)
    assert lua51 == lua54, f"Lua 5.1 says {lua51}, Lua 5.4 says {lua54}"
    return lua54


def lua_literal(value: Any) -> str:
    """A Python value (as decoded from JSON) as a Lua table constructor."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid Lua escapes for this text
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        items = ", ".join(f"[{json.dumps(k)}] = {lua_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(type(value))


def run_lua54(obj: dict[str, Any]) -> tuple[str, str]:
    """The check in Debian's lua5.4 binary."""
    binary = shutil.which("lua5.4")
    assert binary is not None, "lua5.4 is not installed: run tests/env/install-debs.sh"
    program = (
        f"obj = {lua_literal(obj)}\n"
        f"local check = assert(loadfile({json.dumps(str(HEALTH_LUA))}))\n"
        "local hs = check()\n"
        'io.write(hs.status, "\\n", hs.message)\n'
    )
    out = subprocess.run(
        [binary, "-"], input=program, capture_output=True, text=True, timeout=30, check=True
    )
    status, message = out.stdout.split("\n", 1)
    return status, message


def build_kstatus() -> Path:
    """tests/env/kstatus (kstatus and gopher-lua inside), built once and cached
    by build-kstatus.sh, the same script ``make test`` relies on."""
    built = subprocess.run(
        ["bash", str(BUILD_KSTATUS)], capture_output=True, text=True, timeout=900, check=False
    )
    assert built.returncode == 0, built.stderr
    path = Path(built.stdout.strip().splitlines()[-1])
    assert path.is_file() and os.access(path, os.X_OK), path
    return path


def run_gopher_lua(binary: Path, obj: dict[str, Any]) -> tuple[str, str]:
    """The check in gopher-lua, set up as Argo CD sets it up (see tests/env/kstatus)."""
    out = subprocess.run(
        [str(binary), "-argocd-health", str(HEALTH_LUA)],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    return str(result["status"]), str(result["message"])


def kstatus(binary: Path, obj: dict[str, Any]) -> tuple[str, str]:
    """kstatus's ``status.Compute`` of ``obj``: (status, message)."""
    out = subprocess.run(
        [str(binary)], input=json.dumps(obj), capture_output=True, text=True, timeout=30, check=True
    )
    result = json.loads(out.stdout)
    return str(result["status"]), str(result["message"])
