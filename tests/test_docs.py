"""The documentation site builds, and every code reference in it points at real code.

Reference syntax (docs/**/*.md). A code span naming a source file:

    `minicnn/ops/conv.py`                                  the file must exist
    `minicnn/ops/conv.py:64-85` (`Conv2d.backward`)        lines 64-85 of it hold Conv2d.backward

A line range must be followed by the dotted name of a def or class in that file (a space or a line
break, then the name in backticks inside parentheses). The range must start at that name's `def`/`class` line
(or at a decorator above it) and end inside its body, so a reference goes stale, and this test
fails, as soon as code moves. Recompute ranges with the ast of the file (lineno, end_lineno).
"""
import ast
import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Any code span that starts with minicnn/ and names a .py file, with whatever follows it.
SPAN = re.compile(r"`(minicnn/[^`\s]*?\.py)([^`]*)`(\s+\(`([^`]+)`\))?")
RANGE = re.compile(r":(\d+)-(\d+)")


def find_references(text):
    """(path, (first, last) or None, name or None, error or None) for each source reference."""
    refs = []
    for m in SPAN.finditer(text):
        path, suffix, name = m.group(1), m.group(2), m.group(4)
        if not suffix:
            refs.append((path, None, None, None))
            continue
        r = RANGE.fullmatch(suffix)
        if r is None:
            refs.append((path, None, None, f"`{path}{suffix}`: write a range as `{path}:A-B` (`Name`)"))
        elif name is None:
            refs.append((path, None, None, f"`{path}{suffix}`: a line range needs the name after it: (`Name`)"))
        else:
            refs.append((path, (int(r.group(1)), int(r.group(2))), name, None))
    return refs


def definition(source, dotted):
    """The ast node of a def/class named ``Outer.inner`` (nesting by classes and functions)."""
    body = ast.parse(source).body
    node = None
    for part in dotted.split("."):
        matches = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                   and n.name == part]
        if not matches:
            return None
        node = matches[0]
        body = node.body
    return node


def check_reference(path, lines, name, root=ROOT):
    """An error message, or None when the reference is good."""
    file = root / path
    if not file.is_file():
        return f"`{path}` does not exist"
    if lines is None:
        return None
    source = file.read_text()
    first, last = lines
    count = len(source.splitlines())
    if not 1 <= first <= last <= count:
        return f"`{path}:{first}-{last}`: the file has {count} lines"
    node = definition(source, name)
    if node is None:
        return f"`{path}:{first}-{last}`: no def or class `{name}` in {path}"
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    if not (start <= first <= node.lineno and last <= node.end_lineno):
        return (f"`{path}:{first}-{last}` (`{name}`): `{name}` is at lines {node.lineno}-{node.end_lineno} "
                f"(the range must start at its def/class line and end inside it)")
    return None


def doc_pages():
    return sorted(DOCS.rglob("*.md"))


def test_docs_exist():
    names = {p.relative_to(DOCS).as_posix() for p in doc_pages()}
    for page in ("index.md", "getting-started.md", "autograd.md", "ops/convolution.md", "ops/pooling.md",
                 "ops/batchnorm.md", "ops/activations-dropout.md", "ops/softmax-cross-entropy.md",
                 "architectures/lenet.md", "architectures/resnet.md", "architectures/alexnet-zfnet.md",
                 "architectures/vgg.md", "architectures/googlenet-inception.md", "architectures/densenet.md"):
        assert page in names


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_code_references_resolve(page):
    errors = []
    for path, lines, name, error in find_references(page.read_text()):
        error = error or check_reference(path, lines, name)
        if error:
            errors.append(error)
    assert not errors, f"{page.relative_to(ROOT)}:\n" + "\n".join(errors)


def test_the_op_pages_cite_line_ranges():
    for page in (DOCS / "ops").glob("*.md"):
        assert any(lines for _, lines, _, _ in find_references(page.read_text())), page.name


def test_the_reference_checker_is_strict(tmp_path):
    (tmp_path / "minicnn").mkdir()
    (tmp_path / "minicnn" / "m.py").write_text("x = 1\n\nclass A:\n    def f(self):\n        return 1\n\n\ndef g():\n    pass\n")
    text = ("`minicnn/m.py` `minicnn/m.py:3-5` (`A`) `minicnn/m.py:4-5` (`A.f`) `minicnn/m.py:8-9` (`g`) "
            "`minicnn/m.py:2-5` (`A`) `minicnn/m.py:4-6` (`A.f`) `minicnn/m.py:3-5` (`B`) `minicnn/m.py:8-20` (`g`) "
            "`minicnn/m.py:3-5` `minicnn/m.py:3` (`A`) `minicnn/nope.py`")
    results = [(error or check_reference(path, lines, name, root=tmp_path)) for path, lines, name, error
               in find_references(text)]
    assert results[:4] == [None] * 4
    assert all(results[4:]) and len(results) == 11, results


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[dev]')")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "ops" / "convolution" / "index.html").is_file()
    # Offline: no script or stylesheet from a CDN (the mkdocs theme's highlight.js is turned off).
    for page in (tmp_path / "site").rglob("*.html"):
        html = page.read_text()
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', html), page


# index.md's example runs in tests/test_demo.py and seeing-inside.md's in its own test.
EXECUTED = ["getting-started.md", "autograd.md", "ops/*.md", "architectures/*.md"]


@pytest.mark.parametrize("page", sorted(p for pattern in EXECUTED for p in DOCS.glob(pattern)),
                         ids=lambda p: p.relative_to(DOCS).as_posix())
def test_python_examples_run(page):
    for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
        exec(compile(block, str(page.relative_to(ROOT)), "exec"), {})


# Images and included tables: docs/img/*.png, and benchmarks/results/* through docs/hooks/benchmark_results.py.
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
INCLUDE = re.compile(r"^<!-- include (\S+) -->[ \t]*$", re.M)


def missing_files(page):
    """Each image or include of a page whose file is not there (paths relative to the page)."""
    text = page.read_text()
    targets = [t for t in IMAGE.findall(text) if not re.match(r"[a-z]+:", t)] + INCLUDE.findall(text)
    return [t for t in targets if not (page.parent / t).is_file()]


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_images_and_included_tables_exist(page):
    missing = missing_files(page)
    assert not missing, f"{page.relative_to(ROOT)} refers to files that are not there: {missing}"


def test_results_page_shows_every_benchmark():
    text = (DOCS / "results.md").read_text()
    for table in sorted((ROOT / "benchmarks" / "results").glob("*.md")):
        assert f"<!-- include ../benchmarks/results/{table.name} -->" in text, table.name
    for plot in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        assert f"](../benchmarks/results/{plot.name})" in text, plot.name
    for plot in sorted((DOCS / "img").glob("*.png")):
        assert f"](img/{plot.name})" in text, plot.name


def test_missing_files_are_caught(tmp_path):
    page = tmp_path / "docs" / "p.md"
    page.parent.mkdir()
    (tmp_path / "docs" / "a.png").write_bytes(b"")
    page.write_text("![a](a.png) ![b](b.png) ![c](https://x/c.png)\n<!-- include ../t.md -->\n")
    assert missing_files(page) == ["b.png", "../t.md"]


def test_readme_speed_tables_are_the_committed_results():
    """README's speed tables are written by benchmarks/readme_tables.py from benchmarks/results/."""
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "benchmarks" / "readme_tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    readme = (ROOT / "README.md").read_text()
    assert tables.render(readme) == readme, "run python benchmarks/readme_tables.py"
