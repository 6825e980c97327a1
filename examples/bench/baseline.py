"""Release binaries of a baseline git revision, for the side-by-side runs of `--baseline-rev REV`.

`callgrind.py` and `fanout/bench.py` compare the binary built from the working tree (`new`) with the
same binary built from another commit (`base`) in one session. The baseline's source is taken with
`git archive` into a `mktemp -d` directory outside the repository (removed after the build) and built
with `cargo build --release --locked` into a target directory of its own. Binaries and target
directory are kept under `<cache>/base-<full commit id>/`, where `<cache>` is the runner's `--scratch`
directory if given, else `$XDG_CACHE_HOME/live-bench` (`~/.cache/live-bench`): a commit never
changes, so the next invocation finds the binary and builds nothing, and a second binary of the same
commit reuses the compiled dependencies.
"""
import fcntl
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def cache_dir(scratch=None):
    """Where baseline builds are kept: the runner's scratch directory, else the user's cache."""
    if scratch:
        return os.path.abspath(scratch)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "live-bench")


def resolve(rev):
    """The full commit id of rev; exits with a clear message when it names no commit."""
    p = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=ROOT,
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"--baseline-rev {rev}: not a commit of this repository")
    return p.stdout.strip()


def short(commit):
    return subprocess.run(["git", "rev-parse", "--short", commit], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip() or commit[:9]


def worktree_rev():
    """The working tree's revision as the results record it (`-dirty` when it has changes)."""
    return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()


def binaries(rev, wanted, scratch=None, log=print):
    """Builds (or finds cached) the binaries of rev; wanted maps binary name to its cargo package.

    Returns (short commit id, {binary name: path})."""
    commit = resolve(rev)
    home = os.path.join(cache_dir(scratch), f"base-{commit}")
    bindir = os.path.join(home, "bin")
    os.makedirs(bindir, exist_ok=True)
    with open(os.path.join(home, "lock"), "w") as lock:
        # Two runners started together must not build into one target directory at once.
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = {b: p for b, p in wanted.items() if not os.path.exists(os.path.join(bindir, b))}
        if missing:
            _build(commit, missing, home, log)
        else:
            log(f"baseline {short(commit)}: cached in {bindir}")
    return short(commit), {b: os.path.join(bindir, b) for b in wanted}


def _build(commit, wanted, home, log):
    src = tempfile.mkdtemp(prefix="live-bench-base-")
    try:
        archive = subprocess.Popen(["git", "archive", "--format=tar", commit], cwd=ROOT, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout, check=True, timeout=600)
        archive.stdout.close()
        if archive.wait(timeout=60) != 0:
            raise RuntimeError(f"git archive {commit} failed")
        target = os.path.join(home, "target")
        cmd = ["cargo", "build", "--release", "--locked", "--target-dir", target]
        for package in sorted(set(wanted.values())):
            cmd += ["-p", package]
        log(f"baseline {short(commit)}: {' '.join(cmd)} (source in {src})")
        subprocess.run(["timeout", "3600", *cmd], cwd=src, check=True)
        for name in wanted:
            # Copied under a temporary name first, so an interrupted copy is never taken for a build.
            part = os.path.join(home, "bin", name + ".part")
            shutil.copy2(os.path.join(target, "release", name), part)
            os.replace(part, os.path.join(home, "bin", name))
    finally:
        shutil.rmtree(src, ignore_errors=True)
