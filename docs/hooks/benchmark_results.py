"""MkDocs hook: the docs show benchmarks/results/ (tables and plots) without a copy of them in docs/.

The benchmarks write their results to benchmarks/results/, outside docs_dir. In a page:

    <!-- include ../benchmarks/results/ops_cpu.md -->     on a line of its own: replaced by that file's text
    ![ops](../benchmarks/results/ops_cpu.png)              served on the site as benchmarks/ops_cpu.png

Paths are relative to the page, as for any link, so they also work when the Markdown is read on
its own. A path that names no file stops the build with an error saying which page and path.
"""
import os
import posixpath
import re

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

INCLUDE = re.compile(r"^<!-- include (\S+) -->[ \t]*$", re.M)
LINK = re.compile(r"(\]\()([^)\s]+)(\))")
SITE_DIR = "benchmarks"     # where the results land on the site


def _results(config):
    return os.path.join(os.path.dirname(os.path.abspath(config.config_file_path)), "benchmarks", "results")


def on_files(files, config):
    results = _results(config)
    for name in sorted(os.listdir(results)) if os.path.isdir(results) else []:
        if name.endswith(".png"):
            files.append(File.generated(config, f"{SITE_DIR}/{name}", abs_src_path=os.path.join(results, name)))
    return files


def _in_results(page, target, config):
    """The file a page-relative path names, or None when it is not in benchmarks/results/."""
    path = os.path.normpath(os.path.join(os.path.dirname(page.file.abs_src_path), target))
    return path if os.path.dirname(path) == _results(config) else None


def on_page_markdown(markdown, page, config, files):
    def include(m):
        path = _in_results(page, m.group(1), config)
        if path is None or not os.path.isfile(path):
            raise PluginError(f"{page.file.src_uri}: include {m.group(1)}: no such file in benchmarks/results/")
        with open(path, encoding="utf-8") as f:
            return f.read().strip()

    def link(m):
        path = _in_results(page, m.group(2), config)
        if path is None:
            return m.group(0)
        if not path.endswith(".png") or not os.path.isfile(path):
            raise PluginError(f"{page.file.src_uri}: {m.group(2)}: no such image in benchmarks/results/ "
                              "(link the .png plots; include the .md tables)")
        url = posixpath.relpath(f"{SITE_DIR}/{os.path.basename(path)}", posixpath.dirname(page.file.src_uri) or ".")
        return m.group(1) + url + m.group(3)

    return LINK.sub(link, INCLUDE.sub(include, markdown))
