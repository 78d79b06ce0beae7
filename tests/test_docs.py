"""The README stays short and the documentation site builds with no warning."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*parts) -> str:
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as fh:
        return fh.read()


def test_the_readme_is_short_and_the_site_index_is_the_readme():
    readme = _read("README.md")
    assert len(readme) < 15_000
    assert _read("docs", "index.md") == readme.replace("](docs/", "](")


def test_the_docs_build_with_no_warning(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").is_file()
