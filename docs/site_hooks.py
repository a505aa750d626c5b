"""MkDocs hooks (mkdocs.yml ``hooks:``): one site from the repository's Markdown as it is on disk.

* README.md becomes the home page (``index.md``) and BENCHMARKS.md the page ``benchmarks.md``;
* links are written for the repository (README links ``docs/x.md``, a docs page links
  ``../BENCHMARKS.md#anchor``); each is rewritten to the page it names in the site, a repository
  file outside ``docs/`` (a figure under ``benchmarks/results/``, a script) is copied into the site
  under ``repo/`` and linked there, and a link to a folder keeps its text without the link;
* ``docs/api.md``'s ``<!-- api:modules -->`` line becomes one mkdocstrings block per module of
  the package, found by walking ``latentlab/``, so a new or split module is documented without an
  edit here.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
ROOT_PAGES = {"README.md": "index.md", "BENCHMARKS.md": "benchmarks.md", "CHANGELOG.md": "changelog.md"}
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
API_MARK = "<!-- api:modules -->"
SKIP_MODULES = {"latentlab.__main__"}


def _origin(src_uri: str) -> str:
    """The repository path a site page comes from."""
    back = {v: k for k, v in ROOT_PAGES.items()}
    return back.get(src_uri, "docs/" + src_uri)


def _site_path(repo_path: str) -> str | None:
    """Where a repository file lives in the site (None: not in the site, e.g. a folder)."""
    if repo_path in ROOT_PAGES:
        return ROOT_PAGES[repo_path]
    if repo_path.startswith("docs/"):
        return repo_path[len("docs/") :]
    if (ROOT / repo_path).is_file():
        return "repo/" + repo_path
    return None


def _targets(text: str, origin: str):
    for m in LINK.finditer(text):
        target = m.group(3)
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        yield m, posixpath.normpath(posixpath.join(posixpath.dirname(origin), path))


def on_files(files: Files, config) -> Files:
    for repo_path, site in ROOT_PAGES.items():
        files.append(File.generated(config, site, content=(ROOT / repo_path).read_text()))
    sources = [(ROOT / o).read_text() for o in ROOT_PAGES] + [
        f.content_string for f in files if f.src_uri.endswith(".md") and f.src_uri not in ROOT_PAGES.values()
    ]
    origins = list(ROOT_PAGES) + [_origin(f.src_uri) for f in files if f.src_uri.endswith(".md")]
    added = set()
    for text, origin in zip(sources, origins):
        for _, repo_path in _targets(text, origin):
            site = _site_path(repo_path)
            if site and site.startswith("repo/") and site not in added:
                added.add(site)
                files.append(File.generated(config, site, abs_src_path=str(ROOT / repo_path)))
    return files


def _api_blocks() -> str:
    mods = []
    for p in sorted((ROOT / "latentlab").rglob("*.py")):
        parts = p.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in SKIP_MODULES:
            mods.append(name)
    return "\n\n".join(f"::: {m}" for m in mods)


ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s")


def _lists_as_github(markdown: str) -> str:
    """A blank line before a list that follows a paragraph line: GitHub starts a list there,
    Python-Markdown needs the blank line (2-space nesting is mdx_truly_sane_lists' job)."""
    out, prev, fenced = [], "", False
    for line in markdown.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if (
            not fenced
            and ITEM.match(line)
            and prev.strip()
            and not ITEM.match(prev)
            and not prev.lstrip().startswith(("|", "#"))
        ):
            if not line.startswith((" ", "\t")):
                out.append("")
        out.append(line)
        prev = line
    return "\n".join(out)


MARKER = re.compile(r"^[ \t]*<!-- /?table:[\w.-]+ -->\n|<!-- (?:num:[\w.-]+|/num) -->", re.M)


def on_page_markdown(markdown: str, page, config, files) -> str:
    # benchmarks/tables.py's markers are invisible comments; Python-Markdown would glue a block
    # marker to the table under it, so they go before rendering
    markdown = _lists_as_github(MARKER.sub("", markdown))
    src = page.file.src_uri
    origin = _origin(src)
    if src == "api.md":
        markdown = markdown.replace(API_MARK, _api_blocks())

    def sub(m: re.Match) -> str:
        target = m.group(3)
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            return m.group(0)
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(origin), path))
        site = _site_path(repo_path)
        if site is None:
            return m.group(2)  # a folder: keep the text, drop the link
        rel = posixpath.relpath(site, posixpath.dirname(src) or ".")
        return f"{m.group(1)}[{m.group(2)}]({rel}{'#' + anchor if anchor else ''})"

    return LINK.sub(sub, markdown)
