"""Project hygiene: pins agree, lint passes, notebooks are built from their sources."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pins(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)\s*$", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_environment_yml_matches_requirements():
    req = pins((ROOT / "requirements.txt").read_text())
    env = pins((ROOT / "environment.yml").read_text())
    assert req, "requirements.txt has no pins"
    assert req == env
    assert req["torch"] == "2.13.0"  # the CPU wheel; anything else pulls a CUDA build
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.fail("ruff is pinned in requirements.txt but not installed")
    res = subprocess.run([ruff, "check", "electionlib", "tests", "notebooks", "benchmarks"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_notebooks_built_from_sources_and_thin():
    sys.path.insert(0, str(ROOT / "notebooks"))
    import build  # noqa: E402

    srcs = sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))
    assert len(srcs) >= 3
    import nbformat

    for src in srcs:
        nb_path = ROOT / "notebooks" / f"{src.stem}.ipynb"
        assert nb_path.exists(), f"{nb_path.name} missing: run python notebooks/build.py"
        built = build.convert(src)
        committed = nbformat.read(nb_path, as_version=4)
        assert [c.source for c in committed.cells] == [c.source for c in built.cells], (
            f"{nb_path.name} is out of date with {src.name}: rebuild and re-execute it")
        assert committed.metadata["kernelspec"]["name"] == "python3"
        tags = [c.metadata.get("tags", []) for c in committed.cells]
        assert ["parameters"] in tags, f"{nb_path.name} has no papermill parameters cell"
        assert not any("injected-parameters" in t for t in tags)
        for c in committed.cells:
            if c.cell_type == "code":
                assert c.source.count("\n") < 45, f"{nb_path.name}: a cell is too long"
                for out in c.get("outputs", []):
                    assert out.get("output_type") != "error", f"{nb_path.name} holds an error"


def test_notebooks_are_paired_with_their_sources_by_jupytext():
    import tomllib

    import jupytext

    conf = tomllib.loads((ROOT / "notebooks" / "jupytext.toml").read_text())
    assert conf["formats"] == "ipynb,src//py:percent"
    for nb_path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        # the committed notebook, written back as py:percent, has the source's cells
        back = jupytext.reads(jupytext.writes(jupytext.read(nb_path), fmt="py:percent"),
                              fmt="py:percent")
        src = jupytext.read(ROOT / "notebooks" / "src" / f"{nb_path.stem}.py",
                            fmt="py:percent")
        assert [c.source for c in back.cells] == [c.source for c in src.cells], nb_path.name


def test_committed_notebooks_show_every_figure_they_save():
    """Every figure a notebook saves (``experiments.save_figure`` prints ``figure saved:``)
    is displayed in the committed, executed copy: a reader on the repository page sees
    every curve without running anything."""
    import nbformat

    for nb_path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        saved = images = 0
        for c in nb.cells:
            if c.cell_type != "code":
                continue
            cell_saved = cell_images = 0
            for out in c.get("outputs", []):
                text = out.get("text", "") if out.get("output_type") == "stream" else ""
                cell_saved += text.count("figure saved: ")
                cell_images += int("image/png" in out.get("data", {}))
            assert cell_images >= cell_saved, f"{nb_path.name}: a saved figure is not shown"
            saved += cell_saved
            images += cell_images
        src = (ROOT / "notebooks" / "src" / f"{nb_path.stem}.py").read_text()
        if "save_figure(" in src:
            assert saved >= src.count("save_figure("), (
                f"{nb_path.name}: {saved} figures saved in the committed outputs, fewer than "
                f"the source's save_figure calls (re-run ./run_all.sh and adopt the outputs)")
        assert images >= saved


@pytest.mark.slow
def test_mypy_passes_on_the_maths_layer():
    import tomllib

    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    maths = {"codes", "votes", "tolerance", "theory", "aggregators", "draco", "attacks",
             "montecarlo", "schemes", "step", "config"}
    assert maths <= {Path(f).stem for f in files}, files
    res = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Success" in res.stdout


def test_pins_satisfy_the_declared_ranges():
    # pyproject.toml declares ranges (users install into their own environment);
    # requirements.txt pins what this artifact ran with: every pin must lie in its range
    import tomllib

    from packaging.requirements import Requirement

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in meta["dependencies"]]
    for extra in meta["optional-dependencies"].values():
        declared += [Requirement(r) for r in extra]
    req = pins((ROOT / "requirements.txt").read_text())
    assert {"torch", "scikit-learn", "pandas", "scipy", "numpy"} <= {r.name for r in declared}
    for r in declared:
        assert r.name.lower() in req, f"{r.name} is declared but not pinned in requirements.txt"
        assert r.specifier.contains(req[r.name.lower()]), (r, req[r.name.lower()])


def test_requirements_name_only_files_that_exist():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^\s*(?:-r|-c|--requirement|--constraint)\s+(\S+)", line)
        if m or line.strip().startswith(("./", "file:", "-e ")):
            target = m.group(1) if m else line.split()[-1].removeprefix("file:")
            assert (ROOT / target).exists(), line


def test_license_and_citation_match_the_package():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lic = (ROOT / "LICENSE").read_text()
    assert meta["license"]["text"] == "MIT" and lic.startswith("MIT License")
    cff = (ROOT / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in cff and f'version: "{meta["version"]}"' in cff
    assert "Election Coding for Distributed Learning" in cff  # the paper is cited


def test_stable_surface_is_importable_and_called_as_designed():
    # the names ../shared/DESIGN.md lists as the stable surface, called in its forms
    import numpy as np

    import electionlib as el
    import electionlib.schemes  # noqa: F401  (the design's own spelling)

    rng = np.random.default_rng(0)
    assert el.codes.uncoded(5).dtype == np.uint8
    G = el.codes.bernoulli(7, 0.3, k=None, rng=rng)
    assert G.shape == (7, 7)
    G = el.codes.bernoulli(7, 0.3, k=None, rng=rng, empty_rows="redraw")
    assert G.sum(axis=1).min() >= 1
    D = el.codes.deterministic(7, 2)
    assert isinstance(el.codes.redundancy(D), float)
    res = el.tolerance.verify(D, 2)
    assert res.tolerant and res.counterexample is None
    packed = el.votes.pack(np.array([1, -1, 1], np.int8))
    assert el.votes.unpack(packed, 3).tolist() == [1, -1, 1]
    assert el.votes.majority(np.stack([packed] * 3), 3, present=None).shape == (1,)
    for name, kw in [("mean", {}), ("median", {}), ("trimmed_mean", {"f": 1}),
                     ("krum", {"f": 1}), ("multi_krum", {"f": 1, "m": 2}), ("bulyan", {"f": 1}),
                     ("geometric_median", {"eps": 1e-6, "max_iter": 50}),
                     ("centered_clipping", {"tau": 1.0, "iterations": 1}),
                     ("brsgd", {"beta": 0.2, "threshold": 1.0})]:
        assert el.aggregators.get(name, **kw)(rng.standard_normal((9, 4))).shape == (4,)
    for make in (el.draco.repetition, el.draco.cyclic):
        code = make(3, 1)
        g = rng.standard_normal((3, 4))
        np.testing.assert_allclose(np.real(code.decode(code.encode(g))), g.sum(0), atol=1e-9)
    assert callable(el.claims.judge)
    assert len(el.data.partition(np.zeros(100, int), 4, rng)) == 4


def test_the_package_lists_every_module_it_loads_on_first_use():
    import electionlib as el

    assert set(el.__all__) == set(el._LAZY)
    assert {m for m in el.__all__ if not (ROOT / "electionlib" / f"{m}.py").is_file()
            and not (ROOT / "electionlib" / m / "__init__.py").is_file()} == set()
    assert "codes" in dir(el) and el.codes.eq5_redundancy(5, 1) == 3.8
