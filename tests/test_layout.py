"""The layout docs/layout.md promises: imports go one way, and its list names every file."""
import ast
import fnmatch
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("models", "samplers", "utils", "benchmarks", "reproduce", "train_image", "train_audio", "train_sdf")
# Who may import whom (prefixes of module names); anything of the project not listed is forbidden.
ALLOWED = {
    "utils.errors": (),
    "utils.devices": (),
    "utils.host_waits": (),
    "utils.params": ("utils.errors",),
    "utils.locks": ("utils.errors",),
    "models": ("models", "utils.errors", "utils.params"),
    "samplers": ("samplers", "models", "utils.errors", "utils.params", "utils.devices"),
    "utils.tasks": ("utils.tasks", "utils.errors", "utils.devices"),
    "utils.engine": ("utils.engine", "utils.tasks", "models", "samplers", "utils.errors", "utils.params",
                     "utils.devices", "utils.locks"),
    "utils.reproduce": ("utils.reproduce", "utils.engine", "utils.tasks", "utils.errors", "utils.locks"),
}
# utils/reproduce/: a module imports only modules before it here.
REPRODUCE_ORDER = ("columns", "sweep", "run_folder", "local", "ray_backend", "execute", "collect",
                   "table", "figures", "speedup", "scale", "noise", "paper_size", "paper_size_verdicts", "claims", "findings", "scorecard",
                   "report")


def python_files():
    for folder in ("models", "samplers", "utils", "benchmarks", "tests"):
        for base, dirs, names in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in names:
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(base, name), ROOT).replace(os.sep, "/")
    for name in os.listdir(ROOT):
        if name.endswith(".py"):
            yield name


def module_name(path: str) -> str:
    name = path[:-3].replace("/", ".")
    return name[:-len(".__init__")] if name.endswith(".__init__") else name


def project_imports(path: str, root: str = ROOT):
    """Every module of the project that `path` imports, at the top or inside a function."""
    with open(os.path.join(root, path)) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield name


def layer(module: str):
    matches = [k for k in ALLOWED if module == k or module.startswith(k + ".")]
    return max(matches, key=len) if matches else None


def covered(name: str, allowed) -> bool:
    # `from utils.tasks import build_task` yields utils.tasks and utils.tasks.build_task: prefixes count.
    return any(name == a or name.startswith(a + ".") or a.startswith(name + ".") for a in allowed)


def upward_imports(paths, root=ROOT) -> list:
    """'PATH imports NAME' for every import in `paths` (relative to root) that ALLOWED forbids."""
    wrong = []
    for path in paths:
        own = layer(module_name(path))
        if own is None:
            continue
        for name in project_imports(path, root):
            if not covered(name, ALLOWED[own]):
                wrong.append(f"{path} imports {name}")
    return wrong


def test_no_package_imports_upward():
    wrong = upward_imports(python_files())
    assert not wrong, "\n".join(wrong)


def test_layering_rule_can_fail(tmp_path):
    """The same check on a planted tree finds the upward imports, at the top and inside functions."""
    planted = {"samplers/bad.py": "from utils.engine.config import load_config\n",
               "models/bad.py": "def f():\n    import samplers.nint\n",
               "utils/params.py": "from utils.errors import UserError\n",          # allowed
               "utils/tasks/ok.py": "import torch\nfrom utils.devices import chunk_points\n"}  # allowed
    for path, text in planted.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert upward_imports(planted, str(tmp_path)) == ["samplers/bad.py imports utils.engine.config",
                                                      "samplers/bad.py imports utils.engine.config.load_config",
                                                      "models/bad.py imports samplers.nint"]


def test_reproduce_imports_go_one_way():
    folder = os.path.join(ROOT, "utils", "reproduce")
    listed = {f[:-3] for f in os.listdir(folder) if f.endswith(".py") and f != "__init__.py"}
    assert listed == set(REPRODUCE_ORDER), "add the new module to REPRODUCE_ORDER (and docs/layout.md)"
    wrong = []
    for i, name in enumerate(REPRODUCE_ORDER):
        for imported in project_imports(f"utils/reproduce/{name}.py"):
            parts = imported.split(".")
            if parts[:2] == ["utils", "reproduce"] and len(parts) > 2 and parts[2] in REPRODUCE_ORDER:
                if REPRODUCE_ORDER.index(parts[2]) >= i:
                    wrong.append(f"{name} imports {parts[2]}")
    assert not wrong, wrong


LAYOUT = os.path.join(ROOT, "docs", "layout.md")


def layout_paths() -> set:
    """The paths docs/layout.md's list names (folders open a context for the lines indented below)."""
    with open(LAYOUT) as f:
        text = f.read()
    block = text.split("```\n", 1)[1].split("```", 1)[0]
    listed, stack = set(), []
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        names = re.split(r"\s{2,}", line.strip())[0].split()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        prefix = stack[-1][1] if stack else ""
        listed.update(prefix + n for n in names)
        if len(names) == 1 and names[0].endswith("/"):
            stack.append((indent, prefix + names[0]))
    return listed


def test_layout_lists_every_python_file():
    listed = layout_paths()
    missing = sorted(p for p in python_files() if not p.endswith("__init__.py") and p not in listed)
    assert not missing, f"docs/layout.md does not list: {', '.join(missing)}"
    assert "utils/engine/trainer.py" in listed and "utils/tasks/sdf/geometry.py" in listed


def top_level_entries() -> set:
    """The repository's top-level files and folders: git's tracked ones, or outside a git
    checkout (an unpacked archive) what is there but hidden or named in .gitignore."""
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return {p.split("/")[0] for p in tracked.split() if not p.startswith(".")}
    except (OSError, subprocess.CalledProcessError):
        with open(os.path.join(ROOT, ".gitignore")) as f:
            ignored = {line.strip().rstrip("/") for line in f if line.strip() and not line.startswith("#")}
        return {n for n in os.listdir(ROOT) if not n.startswith(".") and n not in ignored
                and not any(fnmatch.fnmatch(n, pattern) for pattern in ignored)}


def test_top_level_entries_without_git(monkeypatch):
    with_git = top_level_entries()
    monkeypatch.setenv("PATH", "")  # no git: the folder itself is read
    assert top_level_entries() == with_git and {"README.md", "samplers", "utils"} <= with_git


def test_layout_lists_every_top_level_entry():
    listed = layout_paths()
    top = {name + ("/" if os.path.isdir(os.path.join(ROOT, name)) else "") for name in top_level_entries()}
    missing = sorted(t for t in top if not any(p == t or p.startswith(t) for p in listed))
    assert not missing, f"docs/layout.md does not list: {', '.join(missing)}"
