"""The layout the README promises: imports go one way, and its Layout section lists every file."""
import ast
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("models", "samplers", "utils", "benchmarks", "reproduce", "train_image", "train_audio", "train_sdf")
# Who may import whom (prefixes of module names); anything of the project not listed is forbidden.
ALLOWED = {
    "utils.errors": (),
    "utils.devices": (),
    "utils.params": ("utils.errors",),
    "models": ("models", "utils.errors", "utils.params"),
    "samplers": ("samplers", "models", "utils.errors", "utils.params"),
    "utils.tasks": ("utils.tasks", "utils.errors", "utils.devices"),
    "utils.engine": ("utils.engine", "utils.tasks", "models", "samplers", "utils.errors", "utils.params",
                     "utils.devices"),
    "utils.reproduce": ("utils.reproduce", "utils.engine", "utils.tasks", "utils.errors"),
}
# utils/reproduce/: a module imports only modules before it here.
REPRODUCE_ORDER = ("columns", "sweep", "run_folder", "local", "ray_backend", "execute", "collect",
                   "table", "figures", "speedup", "scale", "claims")


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


def project_imports(path: str):
    """Every module of the project that `path` imports, at the top or inside a function."""
    with open(os.path.join(ROOT, path)) as f:
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


def test_no_package_imports_upward():
    wrong = []
    for path in python_files():
        module = module_name(path)
        own = layer(module)
        if own is None:
            continue
        for name in project_imports(path):
            if not covered(name, ALLOWED[own]):
                wrong.append(f"{path} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_layering_rule_can_fail():
    assert not covered("utils.engine.config", ALLOWED["samplers"])
    assert not covered("utils.tasks.image", ALLOWED["models"])
    assert not covered("utils.reproduce.table", ALLOWED["utils.engine"])
    assert covered("utils.errors", ALLOWED["utils.tasks"])
    assert not covered("samplers", ALLOWED["utils.params"]) and covered("utils.params", ALLOWED["models"])


def test_reproduce_imports_go_one_way():
    folder = os.path.join(ROOT, "utils", "reproduce")
    listed = {f[:-3] for f in os.listdir(folder) if f.endswith(".py") and f != "__init__.py"}
    assert listed == set(REPRODUCE_ORDER), "add the new module to REPRODUCE_ORDER (and the README)"
    wrong = []
    for i, name in enumerate(REPRODUCE_ORDER):
        for imported in project_imports(f"utils/reproduce/{name}.py"):
            parts = imported.split(".")
            if parts[:2] == ["utils", "reproduce"] and len(parts) > 2 and parts[2] in REPRODUCE_ORDER:
                if REPRODUCE_ORDER.index(parts[2]) >= i:
                    wrong.append(f"{name} imports {parts[2]}")
    assert not wrong, wrong


def layout_paths() -> set:
    """The paths the README's Layout block names (folders open a context for the lines indented below)."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 1)[1].split("```", 1)[0]
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


def test_readme_layout_lists_every_python_file():
    listed = layout_paths()
    missing = sorted(p for p in python_files() if not p.endswith("__init__.py") and p not in listed)
    assert not missing, f"README's Layout section does not list: {', '.join(missing)}"
    assert "utils/engine/trainer.py" in listed and "utils/tasks/sdf/geometry.py" in listed


def test_readme_layout_lists_every_top_level_entry():
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return  # not a git checkout: the Python files are checked above
    listed = layout_paths()
    top = {p.split("/")[0] + ("/" if "/" in p else "") for p in tracked.split() if not p.startswith(".")}
    missing = sorted(t for t in top if not any(p == t or p.startswith(t) for p in listed))
    assert not missing, f"README's Layout section does not list: {', '.join(missing)}"
