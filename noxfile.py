"""The same commands locally, in CI (.ci/run) and by hand: `nox -s tests`, `nox -s lint`, `nox -s bench`,
`nox -s fuzz` (not in CI).

`tests` runs the whole runtime matrix (asyncio, uvloop, trio, anyio on both backends, threads): it is
a pytest parameter of every async test, so one run covers them all; `nox -s tests -- -k trio` narrows it.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

ROOT = os.path.dirname(os.path.abspath(__file__))


@nox.session
def tests(session: nox.Session) -> None:
    """Build the extension (release) and run the test suite against loopback servers."""
    # Editable: the extension lands beside the sources, so the tests import this checkout.
    session.install("-e", ".[test,sdk]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, mypy --strict on the package and stubtest on the native stub, cargo fmt, clippy -D warnings,
    and the Rust unit tests."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "requestx", "tests", "benchmarks", "fuzz", "noxfile.py")
    session.run("ruff", "format", "--check", "requestx", "tests", "benchmarks", "fuzz", "noxfile.py")
    session.run("mypy", "--strict", "requestx")
    session.run("python", "-m", "mypy.stubtest", "requestx._requestx")
    session.run("cargo", "fmt", "--check", external=True)
    session.run("cargo", "test", "--release", "--lib", external=True)
    session.run("cargo", "clippy", "--release", "--all-targets", "--", "-D", "warnings", external=True)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Property-based fuzzing of the parsers of untrusted input (fuzz/test_parsers.py): URLs,
    headers, cookies, query strings, and the Rust decoders behind them. `FUZZ_EXAMPLES` per target
    (20,000 by default, about a minute each). Not in CI's default path."""
    session.install("-e", ".[fuzz]")
    session.run("python", "-m", "pytest", "fuzz", "-p", "no:cacheprovider", "-o", "timeout=0", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The referee (../shared/bench/run) with requestx from this session, then the project's own
    rows the referee lacks (benchmarks/): SSE parsed into events, the worker pool beside the
    referee's best conc_uvloop_64 and threads_8 of the same invocation, and the ceiling of the
    referee's sse_lines loop (no network)."""
    session.install("-e", ".[test,sdk]")  # httpx2 for the referee's httpx2+requestx column
    referee = os.path.join(ROOT, "..", "shared", "bench", "run")
    if not os.path.exists(referee):
        session.error("the referee ../shared/bench/run is not here")
    python = os.path.join(session.virtualenv.location, "bin", "python")
    session.run(referee, "--requestx-python", python, *session.posargs, external=True)
    session.run("python", "benchmarks/sse_events.py", "--requestx-python", python)
    session.run("python", "benchmarks/pool.py", "--requestx-python", python)
    session.run("python", "benchmarks/line_loop_ceiling.py")
