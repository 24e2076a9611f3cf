"""The code layout's contracts: dvc.yaml's code deps cover every module a stage runs, and its
outs agree with the artifact registry."""

import ast
from pathlib import Path

import pytest
import yaml

from vida_core.shared.registry import ARTIFACTS, CLASSIFY_CONDITIONS, artifact

ROOT = Path(__file__).resolve().parent.parent
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _module_file(name: str) -> Path | None:
    """vida_core.x.y -> its file (module or package __init__), None when it is not ours."""
    if name != "vida_core" and not name.startswith("vida_core."):
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imported_modules(path: Path) -> set[str]:
    """Every vida_core module a file imports, at top level or inside functions (lazy imports run too)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if _module_file(name)}


def code_closure(script: Path) -> set[Path]:
    """The vida_core files a stage script runs: its imports, their imports, and each package's __init__."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        for name in _imported_modules(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):     # importing a.b.c runs a/__init__ and a/b/__init__ too
                file = _module_file(".".join(parts[:i]))
                if file and file not in seen:
                    seen.add(file)
                    todo.append(file)
    return seen


# Code that changes speed, never results (tests/test_executors.py, tests/test_ray.py check that
# every executor gives the same artifacts), so no stage lists it (ARCHITECTURE.md).
SPEED_ONLY = ("vida_core/executors/",)


def docstring_only(file: Path) -> bool:
    """A module with nothing but a docstring: importing it cannot change what a stage computes."""
    body = ast.parse(file.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def _covered(file: Path, deps: list[str]) -> bool:
    rel = file.relative_to(ROOT).as_posix()
    if rel.startswith(SPEED_ONLY) or (file.name == "__init__.py" and docstring_only(file)):
        return True
    return any(rel == dep or rel.startswith(dep.rstrip("/") + "/") for dep in deps)


def test_the_package_root_holds_no_code_and_the_shared_modules_are_one_package():
    assert docstring_only(ROOT / "vida_core" / "__init__.py")
    for stage, spec in STAGES.items():
        code = [d for d in spec["deps"] if d.startswith("vida_core")]
        assert "vida_core/shared" in code, stage
        assert not any(d.startswith(SPEED_ONLY) for d in code), f"{stage} lists speed-only code"


def test_no_import_circle_between_the_executors():
    package = ROOT / "vida_core" / "executors"
    imports = {f.stem: {name.rsplit(".", 1)[-1] for name in _imported_modules(f)
                        if name.startswith("vida_core.executors.")} for f in package.glob("*.py")}
    for module, imported in imports.items():
        for other in imported:
            assert module not in imports.get(other, set()), f"executors.{module} and executors.{other} import each other"
    assert "ray" not in imports["__init__"] and imports["ray"] <= {"base"} and imports["local"] <= {"base"}


def stage_script(stage: str) -> str:
    """The script a stage runs: `python stages/<script>.py [args]` (one script may serve several stages)."""
    words = STAGES[stage]["cmd"].split()
    assert words[0] == "python" and words[1].startswith("stages/"), STAGES[stage]["cmd"]
    return words[1]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_cover_the_code_it_runs(stage):
    deps = STAGES[stage]["deps"]
    script = ROOT / stage_script(stage)
    assert stage_script(stage) in deps
    missing = sorted(f.relative_to(ROOT).as_posix() for f in code_closure(script) if not _covered(f, deps))
    assert not missing, f"dvc.yaml stage '{stage}' runs {missing} but does not list them (or their folder) as deps"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_outs_match_the_registry(stage):
    declared = set()
    for kind in ("outs", "metrics", "plots"):
        for entry in STAGES[stage].get(kind, []):
            declared.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    registered = {a.file for a in ARTIFACTS.values() if a.stage == stage}
    assert declared == registered


def test_every_registry_file_is_written_by_a_dvc_stage():
    for a in ARTIFACTS.values():
        assert a.stage in STAGES, f"{a.name} names stage {a.stage}, which dvc.yaml does not have"


def test_one_classify_stage_per_condition_reading_what_it_needs():
    """The conditions table, the registry and dvc.yaml agree: each condition is a stage whose
    deps are the artifacts it reads, and no other condition's generated audio."""
    from vida_core.learn.conditions import CONDITIONS

    assert set(CLASSIFY_CONDITIONS) == set(CONDITIONS)
    generated = {a.file for a in ARTIFACTS.values() if a.name.startswith(("generated_", "filter"))}
    for name in CLASSIFY_CONDITIONS:
        stage = STAGES[f"classify_{name}"]
        assert stage["cmd"] == f"python stages/classify.py {name}"
        needs = {artifact(n).file for n in ("visual", "audio", "manifest", "roles", *CONDITIONS[name].needs)}
        deps = {d for d in stage["deps"] if d.startswith("artifacts/")}
        assert deps == needs, f"classify_{name} reads {sorted(needs)} but dvc.yaml lists {sorted(deps)}"
        assert not deps & generated - needs
    results_deps = set(STAGES["results"]["deps"])
    assert {artifact(f"classify_{name}").file for name in CLASSIFY_CONDITIONS} <= results_deps


REPLAYED_BY_PREDICT = ("frames", "audio", "flow", "representative", "visual_features", "captions", "label_map")


@pytest.mark.parametrize("stage", REPLAYED_BY_PREDICT)
def test_one_wiring_per_stage_the_script_and_vida_predict_call_the_same_function(stage):
    """A stage's body is one function in vida_core (`<stage>_stage(stage)`); its script and
    `vida predict` (on an artifacts folder of its own) both call it, so they cannot drift."""
    function = f"{stage}_stage"

    def calls(path: Path) -> set[str]:
        return {node.func.id for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}

    assert function in calls(ROOT / stage_script(stage))
    assert function in calls(ROOT / "vida_core" / "predict.py")
    script = (ROOT / stage_script(stage)).read_text()
    assert len([line for line in script.splitlines() if line.strip() and not line.startswith(("#", '"', "from", "import"))]) <= 14
