"""The README works as written: every command in its ```bash blocks is checked.

- ``python -m cnn|serving|bayes ...`` (also under ``torchrun``): the line as written is parsed by
  the package's own parser (a misspelt choice fails here), then run with ``--help`` appended, in
  this process through the package's ``main(argv)`` (one import of torch/PyMC for all of them).
- A few cheap commands run for real, exactly as written, in parallel subprocesses
  (``serving predict examples/digit_3.png`` must read a 3).
- No command may write into ``models/``: no ``--out`` (given or default) and no redirection there,
  and the shipped files hash the same after the real runs.
- ``pip install``, ``streamlit run``, ``python -m venv`` and the other shell lines are checked for
  syntax only (``bash -n``), plus what can be checked without running them: the torch pin equals
  pyproject's, the extras exist, the files named exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MODELS = ROOT / "models"
PACKAGES = ("cnn", "serving", "bayes")
PYTHONS = ("python", "python3", "python3.11")
OPERATORS = {"&&", "||", ";", "|", "&"}
REDIRECTS = {">", ">>", "&>", "2>"}
# Programs whose lines are only checked for shell syntax (and files named, where they apply).
SYNTAX_ONLY = {"pytest", "curl", "git", "cd", "export", "ruff", "nvidia-smi", "echo", "ls", "cat"}
# Folders that commands create (gitignored): paths under them need not exist beforehand.
GENERATED = {"runs", "artifacts", "build", ".venv"}
# Ray's CLIs (the [ray] extra): `ray start ...`, `serve deploy <config> | status | shutdown`.
RAY_CLIS = {"ray": {"start", "stop", "status"}, "serve": {"deploy", "status", "shutdown", "build"}}
# (package, subcommand) -> what its real run must print; these run as written (cheap, < 10 s).


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def split_commands(block: str) -> list[list[str]]:
    """Simple commands of a bash block: continuations joined, comments dropped, split at && ; |."""
    commands: list[list[str]] = []
    for line in block.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        current: list[str] = []
        for token in lexer:
            if token in OPERATORS:
                commands.append(current)
                current = []
            else:
                current.append(token)
        commands.append(current)
    # leading VAR=value assignments (MNIST_DIR=... python -m ...) are the environment
    return [_drop_assignments(c) for c in commands if _drop_assignments(c)]


def _drop_assignments(tokens: list[str]) -> list[str]:
    i = 0
    while i < len(tokens) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[i]):
        i += 1
    return tokens[i:]


def package_argv(tokens: list[str]) -> tuple[str, list[str]] | None:
    """('cnn', ['train', ...]) for `python -m cnn train ...` or `torchrun ... -m cnn train ...`."""
    if tokens[0] in PYTHONS or tokens[0] == "torchrun":
        if "-m" in tokens:
            i = tokens.index("-m")
            if i + 1 < len(tokens) and tokens[i + 1] in PACKAGES:
                return tokens[i + 1], _without_redirects(tokens[i + 2 :])
    return None


def _without_redirects(tokens: list[str]) -> list[str]:
    out, skip = [], False
    for token in tokens:
        if skip:
            skip = False
        elif token in REDIRECTS:
            skip = True
        else:
            out.append(token)
    return out


def _inside(path: str | Path, folder: Path) -> bool:
    resolved = (ROOT / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
    return resolved == folder or folder in resolved.parents


def _predicted_three(output: str) -> bool:
    for line in output.splitlines():
        if line.startswith("{"):
            return json.loads(line)["digit"] == 3
        if "digit_3.png:" in line:
            return line.split(":", 1)[1].split()[0] == "3"
    return False


def _overfit_table(output: str) -> bool:
    return "test MSE" in output or '"test_mse"' in output


# (package, subcommand) -> what its real run must print; these run as written (cheap, < 10 s).
REAL_RUNS = {("serving", "predict"): _predicted_three, ("bayes", "overfit"): _overfit_table}


def parse(package: str, argv: list[str]):
    """The namespace the package's own parser makes of argv (SystemExit(2) if it refuses)."""
    return importlib.import_module(f"{package}.__main__").build_parser().parse_args(argv)


def writes_into_models(args) -> list[str]:
    """The --out* destinations (given or default) that lie inside models/."""
    return [
        f"--{dest.replace('_', '-')} {value}"
        for dest, value in vars(args).items()
        if dest.startswith("out") and value is not None and _inside(value, MODELS)
    ]


TEXT = README.read_text()
BLOCKS = bash_blocks(TEXT)
COMMANDS = [c for block in BLOCKS for c in split_commands(block)]
PACKAGE_COMMANDS = [pc for c in COMMANDS if (pc := package_argv(c))]
OTHER_COMMANDS = [c for c in COMMANDS if not package_argv(c)]


# Commands quoted in the prose (`python -m serving predict --json`): fragments may lack the
# required arguments, so these are checked with --help appended (subcommand, choices) only.
INLINE = [
    split_commands(code)[0]
    for code in re.findall(r"`((?:python[\d.]*|pip|streamlit|torchrun) [^`<>]+)`", TEXT)
]


def _id(item) -> str:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], list):
        return " ".join([item[0], *item[1]])
    return " ".join(item)


def test_readme_starts_with_two_commands_then_the_long_hand():
    """From a fresh clone: `make app` and `make test`, nothing else; the long hand below them."""
    assert BLOCKS, "no ```bash blocks in README.md"
    assert split_commands(BLOCKS[0]) == [["make", "app"], ["make", "test"]], BLOCKS[0]
    by_hand = split_commands(BLOCKS[1])
    assert by_hand[0][:3] in (["python3.11", "-m", "venv"], ["python3", "-m", "venv"]), by_hand
    assert by_hand[1][0] in (".", "source") and by_hand[1][1].endswith("/bin/activate"), by_hand
    assert [c[:2] for c in by_hand[2:]] == [["pip", "install"]] * 2 + [["streamlit", "run"]]
    assert len(PACKAGE_COMMANDS) >= 15, "the CLI tour lost its commands?"


def check_make(targets: list[str]) -> None:
    """The Makefile has the target and its recipe parses (`make -n`: printed, not run)."""
    dry = subprocess.run(["make", "-n", *targets], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, f"make -n {' '.join(targets)}: {dry.stderr}"
    assert "scripts/setup.sh" in dry.stdout, dry.stdout  # every target sets up first
    for line in dry.stdout.splitlines():
        if line.startswith("bash "):
            check = subprocess.run(["bash", "-n", line.split()[1]], cwd=ROOT, capture_output=True)
            assert check.returncode == 0, f"{line}: {check.stderr}"


def test_every_block_is_valid_bash():
    for block in BLOCKS:
        check = subprocess.run(["bash", "-n"], input=block, text=True, capture_output=True)
        assert check.returncode == 0, f"bash -n: {check.stderr}\n{block}"


@pytest.mark.parametrize("command", PACKAGE_COMMANDS, ids=_id)
def test_package_command_parses_and_has_help(command):
    """As written it parses (choices, types, required args); with --help appended it explains."""
    package, argv = command
    written = " ".join(["python -m", package, *argv])
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            args = parse(package, argv)
        except SystemExit:
            pytest.fail(f"`{written}` is refused:\n{stderr.getvalue()}", pytrace=False)
    assert not writes_into_models(args), (
        f"`{written}` writes {writes_into_models(args)} into models/: point it at runs/ so the "
        "shipped model is never overwritten"
    )

    stdout = io.StringIO()
    cli = importlib.import_module(f"{package}.__main__")
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code in (0, None)
    help_text = stdout.getvalue()
    assert help_text.startswith("usage: python -m " + package), help_text[:200]
    assert len(help_text.splitlines()) >= 4, help_text


@pytest.mark.parametrize("tokens", OTHER_COMMANDS, ids=_id)
def test_other_command_is_well_formed(tokens):
    """pip/streamlit/venv/...: not run, but what they name must exist and agree with the project."""
    program, rest = tokens[0], tokens[1:]
    for path in repo_paths(tokens):
        assert (ROOT / path).exists(), f"`{' '.join(tokens)}` names {path}, which does not exist"
    for i, token in enumerate(tokens[:-1]):
        if token in REDIRECTS:
            assert not _inside(tokens[i + 1], MODELS), f"{' '.join(tokens)} writes into models/"
    if program in PYTHONS and rest[:1] == ["-m"]:
        module = rest[1]
        if module == "venv":
            assert rest[2:] and not rest[2].startswith("-"), tokens
            return
        if module in ("pip", "streamlit"):
            program, rest = module, rest[2:]
        else:
            assert importlib.util.find_spec(module), f"no module {module}: {' '.join(tokens)}"
            return
    if program in (".", "source"):
        assert rest[0].endswith("bin/activate"), tokens
    elif program == "pip":
        check_pip(rest)
    elif program == "streamlit":
        assert rest[0] == "run" and (ROOT / rest[1]).is_file(), tokens
        assert all(t.startswith("--") or i and rest[i - 1].startswith("--") for i, t in
                   enumerate(rest[2:], start=2)), tokens  # fmt: skip
    elif program == "make":
        check_make(rest)
    elif program in ("bash", "sh"):
        assert (ROOT / rest[0]).is_file(), f"{' '.join(tokens)}: no such script"
    elif program in RAY_CLIS:
        assert rest and rest[0] in RAY_CLIS[program], f"{' '.join(tokens)}: unknown subcommand"
    else:
        assert program in SYNTAX_ONLY, (
            f"README command `{' '.join(tokens)}`: tests/test_readme.py does not know how to "
            f"check {program!r}; teach it (or add it to SYNTAX_ONLY)"
        )


def repo_paths(tokens: list[str]) -> list[str]:
    """Tokens that name a file in this repository (``serving/x.yaml``, ``file=@examples/y.png``)."""
    paths = []
    for token in tokens:
        candidate = token.rsplit("@", 1)[-1] if "@" in token else token
        first = candidate.split("/", 1)[0]
        if "/" in candidate and "://" not in candidate and first not in GENERATED | {""}:
            if (ROOT / first).is_dir():  # a folder of the repository, not model_repository/
                paths.append(candidate)
    return paths


def check_pip(args: list[str]) -> None:
    assert args[0] == "install", args
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {
        re.split(r"[=<>!~\[;]", d, maxsplit=1)[0].strip(): d.replace(" ", "")
        for d in project["dependencies"]
    }
    extras = project["optional-dependencies"]
    rest = iter(args[1:])
    for token in rest:
        if token == "-e":
            target = next(rest)
            path, _, extra = target.partition("[")
            assert (ROOT / path / "pyproject.toml").is_file(), target
            for name in filter(None, extra.rstrip("]").split(",")):
                assert name in extras, f"pip install {target}: no extra {name!r} in pyproject"
        elif token == "-r":  # a requirements file (e.g. .ci/posterior-requirements.txt)
            requirements = next(rest)
            assert (ROOT / requirements).is_file(), f"pip install -r {requirements}: no such file"
        elif token == "--index-url":
            url = next(rest)
            assert url.startswith("https://download.pytorch.org/whl/"), url
        elif not token.startswith("-"):
            name = re.split(r"[=<>!~\[]", token, maxsplit=1)[0]
            assert name in pins, f"pip install {token}: not a dependency in pyproject.toml"
            if "==" in pins[name]:
                assert token == pins[name], f"README installs {token}, pyproject pins {pins[name]}"


def models_digest() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(MODELS.iterdir())}


def test_cheap_commands_run_as_written_and_leave_models_alone():
    """The README lines for the cheap commands, verbatim (python -> this interpreter)."""
    lines = [
        (line, (package, argv[0]))
        for block in BLOCKS
        for line in block.replace("\\\n", " ").splitlines()
        for tokens in split_commands(line)
        if (pc := package_argv(tokens)) and (package := pc[0]) and (argv := pc[1])
        and (package, argv[0]) in REAL_RUNS
    ]  # fmt: skip
    assert {key for _, key in lines} == set(REAL_RUNS), "the README lost a cheap command"
    assert any("examples/digit_3.png" in line for line, _ in lines), "predict the sample digit"
    before = models_digest()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}

    def run(line: str) -> subprocess.CompletedProcess:
        command = line.split("#", 1)[0].strip()
        argv = shlex.split(command)
        argv[0] = sys.executable
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)

    with ThreadPoolExecutor(max_workers=len(lines)) as pool:
        results = list(pool.map(run, [line for line, _ in lines]))
    for (line, key), result in zip(lines, results, strict=True):
        assert result.returncode == 0, f"{line}\n{result.stderr[-2000:]}"
        assert REAL_RUNS[key](result.stdout), f"{line} printed:\n{result.stdout[-2000:]}"
    assert models_digest() == before, "a README command changed a file in models/"


def test_the_checks_can_fail():
    """The write check and the parser check catch what they are for."""
    argv = ["quantize", "--out", "models/mnist_cnn_int8.onnx"]
    assert writes_into_models(parse("serving", argv)) == ["--out models/mnist_cnn_int8.onnx"]
    assert writes_into_models(parse("serving", ["quantize", "--out", "runs/q.onnx"])) == []
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        parse("cnn", ["init-lab", "--init", "no-such-init"])
    assert package_argv(["torchrun", "--nproc-per-node", "2", "-m", "cnn", "train"]) == (
        "cnn",
        ["train"],
    )
    assert split_commands("A=1 python -m bayes fit > out.txt && pip install x  # note") == [
        ["python", "-m", "bayes", "fit", ">", "out.txt"],
        ["pip", "install", "x"],
    ]
    with pytest.raises(AssertionError, match="make -n"):
        check_make(["no-such-target"])
    with pytest.raises(AssertionError, match="pins torch=="):
        check_pip(["install", "torch==0.1"])
    assert repo_paths(["curl", "-F", "file=@examples/x.png", "http://h:1/p", "runs/"]) == [
        "examples/x.png"
    ]


def test_the_accuracy_the_readme_states_is_the_shipped_models():
    """The README's headline number comes from the file it describes (its metadata)."""
    from serving.session import metadata, open_session

    stated = re.search(r"`models/mnist_cnn\.onnx` \(test accuracy \*\*([\d.]+)%\*\*", TEXT)
    assert stated, "README: '`models/mnist_cnn.onnx` (test accuracy **NN.NN%**' not found"
    shipped = float(metadata(open_session(MODELS / "mnist_cnn.onnx"))["test_accuracy"])
    assert float(stated.group(1)) == round(100 * shipped, 2), (
        f"README says {stated.group(1)}%, models/mnist_cnn.onnx's metadata {shipped:.2%}"
    )


@pytest.mark.parametrize("tokens", INLINE, ids=_id)
def test_command_quoted_in_the_text(tokens):
    if (command := package_argv(tokens)) is None:
        test_other_command_is_well_formed(tokens)
        return
    package, argv = command
    cli = importlib.import_module(f"{package}.__main__")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        with pytest.raises(SystemExit) as exit_:
            cli.main([*argv, "--help"])
    assert exit_.value.code in (0, None), f"`{' '.join(tokens)}`: {err.getvalue()}"


def test_every_subcommand_and_option_explains_itself():
    """The README promises a --help that explains itself: a description per subcommand, help
    text per option, and the default wherever there is a meaningful one."""
    import argparse

    problems = []
    for package in PACKAGES:
        parser = importlib.import_module(f"{package}.__main__").build_parser()
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        listed = {choice.dest: choice.help for choice in sub._choices_actions}
        for name, command in sub.choices.items():
            where = f"python -m {package} {name}"
            if not command.description or not listed.get(name):
                problems.append(f"{where}: no description or no line in the command list")
            shows_defaults = issubclass(
                command.formatter_class, argparse.ArgumentDefaultsHelpFormatter
            )
            for action in command._actions:
                if isinstance(action, argparse._HelpAction):
                    continue
                flag = "/".join(action.option_strings) or action.dest
                meaningful = action.default not in (None, False, argparse.SUPPRESS)
                if not action.help:
                    problems.append(f"{where} {flag}: no help text")
                elif meaningful and action.const is None and not shows_defaults:
                    if "default" not in action.help.lower():
                        problems.append(f"{where} {flag}: default {action.default!r} not shown")
    assert not problems, "\n".join(problems)
