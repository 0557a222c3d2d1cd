"""The same commands locally, in CI (.ci/run) and by hand: `nox -s tests`, `nox -s lint`, `nox -s bench`,
`nox -s fuzz` and `nox -s sanitize` (not in CI).

`tests` runs the whole runtime matrix (asyncio, uvloop, trio, anyio on both backends, threads): it is
a pytest parameter of every async test, so one run covers them all; `nox -s tests -- -k trio` narrows it.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

ROOT = os.path.dirname(os.path.abspath(__file__))


@nox.session
def tests(session: nox.Session) -> None:
    """Build the extension (release) and run the test suite against loopback servers."""
    # Editable: the extension lands beside the sources, so the tests import this checkout.
    session.install("-e", ".[test,sdk,dask]")
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


# The cargo-fuzz (libFuzzer) targets of fuzz/fuzz_targets/, each with its seeds in fuzz/corpus/<target>.
CARGO_FUZZ_TARGETS = ("sse", "lines", "json", "decode", "headers")


@nox.session
def fuzz(session: nox.Session) -> None:
    """Property-based fuzzing of the parsers of untrusted input (fuzz/test_parsers.py): URLs,
    headers, cookies, query strings, and the Rust decoders behind them. `FUZZ_EXAMPLES` per target
    (20,000 by default, about a minute each). Then each cargo-fuzz target for `FUZZ_SECONDS` (60 by
    default; needs the nightly toolchain; cargo-fuzz is installed if missing; `REQUESTX_FUZZ_STRICT=1`
    fails on the divergences already reported too). Not in CI's default path."""
    session.install("-e", ".[fuzz]")
    session.run("python", "-m", "pytest", "fuzz", "-p", "no:cacheprovider", "-o", "timeout=0", *session.posargs)
    if shutil.which("cargo-fuzz") is None and not os.path.exists(os.path.expanduser("~/.cargo/bin/cargo-fuzz")):
        session.run("cargo", "install", "cargo-fuzz", "--locked", external=True)
    seconds = os.environ.get("FUZZ_SECONDS", "60")
    # The targets embed this session's Python: its libpython, found at run time.
    libdir = session.run("python", "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))", silent=True)
    env = {
        "LD_LIBRARY_PATH": str(libdir).strip(),
        # LeakSanitizer would report the embedded interpreter, never finalized, at exit.
        "ASAN_OPTIONS": "detect_leaks=0",
    }
    # libFuzzer adds what it finds to the first corpus directory: a scratch one, so fuzz/corpus
    # keeps only the committed seeds.
    with tempfile.TemporaryDirectory(prefix="requestx-fuzz-") as scratch, session.chdir(os.path.join(ROOT, "fuzz")):
        for target in CARGO_FUZZ_TARGETS:
            grown = os.path.join(scratch, target)
            os.makedirs(grown)
            run = ["cargo", "+nightly", "fuzz", "run", target, grown, f"corpus/{target}"]
            session.run(*run, "--", f"-max_total_time={seconds}", env=env, external=True)


# The tests the sanitized engine runs: bodies, streams, decoding, errors, hostile servers,
# cancellation, connections and the pool. The ones that measure RSS or time a Ctrl-C are left
# out: ASan's shadow memory and slowdown are not what they measure.
SANITIZED_TESTS = (
    "tests/test_decompression.py",
    "tests/test_errors.py",
    "tests/test_hostile.py",
    "tests/test_streaming.py",
    "tests/test_sse.py",
    "tests/test_connections.py",
    "tests/test_cancellation.py",
    "tests/test_pool.py",
)


@nox.session
def sanitize(session: nox.Session) -> None:
    """AddressSanitizer with LeakSanitizer (nightly Rust, clang's runtime from Debian's
    libclang-rt-19-dev): the Rust unit tests, then a short Python workload (SANITIZED_TESTS)
    against the engine built instrumented, loaded with the runtime preloaded. Any error or leak
    fails the session; fuzz/lsan.supp lists what is not ours (libpython) or lives for the process
    (the engine). Not in CI's default path."""
    import glob

    runtimes = sorted(glob.glob("/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.asan-x86_64.so"))
    if not runtimes:
        session.error("no ASan runtime: apt-get install libclang-rt-19-dev")
    session.install("-e", ".[test]")
    triple = "x86_64-unknown-linux-gnu"
    target = os.path.join(ROOT, "target", "sanitize")
    env = {
        "RUSTFLAGS": "-Zsanitizer=address",
        "CARGO_TARGET_DIR": target,
        "ASAN_OPTIONS": "detect_leaks=1",
        "LSAN_OPTIONS": f"suppressions={os.path.join(ROOT, 'fuzz', 'lsan.supp')}",
        "ASAN_SYMBOLIZER_PATH": shutil.which("llvm-symbolizer") or "",
    }
    # system-allocator: ASan watches only the system allocator's blocks (src/alloc.rs).
    test = ["cargo", "+nightly", "test", "--lib", "--target", triple, "--features", "system-allocator"]
    session.run(*test, env=env, external=True)
    build = ["cargo", "+nightly", "rustc", "--lib", "--crate-type", "cdylib", "--target", triple]
    session.run(*build, "--features", "pyo3/extension-module,system-allocator", env=env, external=True)
    # A copy of the package and its tests beside the instrumented engine, so that nothing
    # imports this checkout's own build.
    with tempfile.TemporaryDirectory(prefix="requestx-asan-") as work:
        for name in ("requestx", "tests"):
            shutil.copytree(os.path.join(ROOT, name), os.path.join(work, name), ignore=shutil.ignore_patterns("*.so"))
        shutil.copy(
            os.path.join(target, triple, "debug", "lib_requestx.so"),
            os.path.join(work, "requestx", "_requestx.abi3.so"),
        )
        shutil.copy(os.path.join(ROOT, "pyproject.toml"), work)
        with session.chdir(work):
            session.run(
                "python",
                "-m",
                "pytest",
                *SANITIZED_TESTS,
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "timeout=300",
                "-k",
                "not flat_memory and not ctrl_c",
                *session.posargs,
                env={**env, "LD_PRELOAD": runtimes[-1]},
            )


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
