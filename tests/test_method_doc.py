"""docs/method.md is the project's method spec: every ``§N`` reference names one of its sections,
and nothing in the repository points outside it (to the steering folder or its old spec file).

A ``§`` reference counts as a reference to docs/method.md unless it is an external citation (a
year such as ``1993,`` shortly before it, e.g. "Efron & Tibshirani 1993, §11.2") or sits in
another markdown file of docs/ without naming method.md (then it refers to that file's own
numbered headings, which must exist too).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHOD = ROOT / "docs" / "method.md"
REFERENCE = re.compile(r"§\s?(\d+(?:\.\d+)*)(?:\s?[-–]\s?(\d+(?:\.\d+)*))?")
CITATION = re.compile(r"\b(19|20)\d\d\b[^§]{0,40}$")
HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)[.)]?\s", re.MULTILINE)
SCANNED = ("*.py", "*.md", "*.yaml", "*.yml", "*.sh", "*.toml", "*.txt")
# built from parts so that this file does not contain what it forbids
FORBIDDEN = ("../" + "shared", "/work/" + "shared", "METHOD" + ".md")


def sections(path: Path) -> set[str]:
    return set(HEADING.findall(path.read_text(encoding="utf-8")))


def _scanned_files() -> list[Path]:
    files: list[Path] = [ROOT / "README.md"]
    for folder in ("src", "docs", "benchmarks"):
        for pattern in SCANNED:
            files += [p for p in (ROOT / folder).rglob(pattern) if ".egg-info" not in str(p)]
    return sorted(set(files))


def references(path: Path) -> list[tuple[int, str, Path]]:
    """(line, section, document referred to) for every § reference of ``path``."""
    found = []
    own_doc = path.suffix == ".md" and path.parent == ROOT / "docs"
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for match in REFERENCE.finditer(line):
            before = line[: match.start()]
            if CITATION.search(before):
                continue
            target = METHOD
            if own_doc and "method.md" not in before[-30:]:
                target = path
            found += [(number, section, target) for section in match.groups() if section]
    return found


def test_method_doc_exists_with_the_spec_sections() -> None:
    assert METHOD.exists(), "docs/method.md is missing"
    assert {"1", "2", "3", "3.1", "3.7", "3.8", "4", "5", "6", "7"} <= sections(METHOD)


def test_every_section_reference_names_an_existing_section() -> None:
    known: dict[Path, set[str]] = {}
    missing = []
    for path in _scanned_files():
        for line, section, target in references(path):
            names = known.setdefault(target, sections(target))
            if section not in names:
                missing.append(f"{path.relative_to(ROOT)}:{line} §{section} ({target.name})")
    assert not missing, "references to sections that do not exist:\n" + "\n".join(missing)


def test_reference_parser_catches_a_missing_section(tmp_path: Path) -> None:
    """The rule can fail: a made-up section is caught, a citation with a year is not."""
    source = tmp_path / "module.py"
    source.write_text('"""See docs/method.md §3.99 and §4; (Huber 1981, §7.8)."""\n')
    found = [section for _, section, _ in references(source)]
    assert found == ["3.99", "4"]
    assert "3.99" not in sections(METHOD)


def _repository_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.split("\n")  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed if name and (ROOT / name).is_file()]


def test_nothing_refers_to_the_steering_folder_or_the_old_spec() -> None:
    offenders = []
    for path in _repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if any(word in line for word in FORBIDDEN):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert not offenders, "refer to docs/method.md instead:\n" + "\n".join(offenders)
