"""Finding, loading and swapping model versions under the base path (real exported SavedModel)."""
import os
import re
import shutil

import pytest

from seqline.serving.errors import RequestError
from seqline.serving.registry import ModelRegistry, VersionPolicy, parse_labels
from tests.serving_helpers import MODEL


@pytest.fixture
def base(exported, tmp_path):
    """A base path holding the exported model as version 1 (copied, so tests may change it)."""
    shutil.copytree(os.path.join(exported.serving_dir, MODEL, "1"), tmp_path / "base" / MODEL / "1")
    return tmp_path / "base"


def add_version(base, version: int, name: str = MODEL):
    shutil.copytree(base / MODEL / "1", base / name / str(version), dirs_exist_ok=True)


def registry(base, **kw):
    events = []
    return ModelRegistry(str(base), echo=events.append, **kw), events


def served(models) -> dict:
    return {name: sorted(model.versions) for name, model in models.snapshot.items()}


def test_policies_choose_versions():
    assert VersionPolicy.parse("latest").choose([1, 2, 5]) == [5]
    assert VersionPolicy.parse("latest:2").choose([1, 2, 5]) == [2, 5]
    assert VersionPolicy.parse("all").choose([1, 2, 5]) == [1, 2, 5]
    assert VersionPolicy.parse("5, 1,7").choose([1, 2, 5]) == [1, 5]
    for bad in ("latest:0", "latest:x", "newest", "1,a", "-1", ""):
        with pytest.raises(ValueError, match="--versions"):
            VersionPolicy.parse(bad)
    assert parse_labels(["m:stable=1", "m:canary=2", "n.x:prod=0"]) == {
        "m": {"stable": 1, "canary": 2}, "n.x": {"prod": 0}}
    for bad in ("m=1", "m:stable", "../m:stable=1", "m:stable=x"):
        with pytest.raises(ValueError, match="--label"):
            parse_labels([bad])


def test_only_integer_version_folders_inside_the_base_path_are_served(base, tmp_path):
    add_version(base, 2, name="other_model")
    (base / MODEL / ".tmp-3-123").mkdir()                  # the Pusher's half-written export
    shutil.copytree(base / MODEL / "1", base / MODEL / "07")   # not a canonical integer
    (base / MODEL / "4").mkdir()                           # empty: no model yet
    (base / "notes.txt").write_text("not a model")
    (base / ".hidden").mkdir()
    outside = tmp_path / "outside"
    shutil.copytree(base / MODEL / "1", outside / "9")
    os.symlink(outside, base / "linked_out")                # a model folder leaving the base path
    os.symlink(outside / "9", base / MODEL / "9")           # a version folder leaving it
    models, events = registry(base, policy=VersionPolicy("all"))
    models.refresh()
    assert served(models) == {MODEL: [1], "other_model": [2]}
    assert sum("loaded" in e for e in events) == 2


def test_new_versions_replace_old_ones_and_requests_keep_what_they_resolved(base):
    models, events = registry(base)
    models.refresh()
    version, first = models.resolve(MODEL)
    assert version == 1 and first.kind == "SavedModel"
    add_version(base, 2)
    models.refresh()
    assert served(models) == {MODEL: [2]}
    assert "unloaded msft_close version 1" in events
    assert first.signatures["serving_default"].predict is not None   # still usable by its holder
    with pytest.raises(RequestError, match=r"version 1 of model 'msft_close' is not served "
                                           r"\(served versions: 2\)") as info:
        models.resolve(MODEL, version=1)
    assert info.value.status == 404
    shutil.rmtree(base / MODEL / "2")
    models.refresh()
    assert served(models) == {MODEL: [1]}                # the remaining version comes back
    shutil.rmtree(base / MODEL)
    models.refresh()
    assert served(models) == {}


def test_a_broken_version_is_reported_the_previous_one_kept_and_retried_once_fixed(base):
    models, events = registry(base, policy=VersionPolicy.parse("latest:2"))
    (base / MODEL / "3").mkdir()
    (base / MODEL / "3" / "saved_model.pb").write_bytes(b"not a protobuf")
    models.refresh()
    assert served(models) == {MODEL: [1]}
    status = models.get(MODEL).status()["model_version_status"]
    assert [s["version"] for s in status] == ["1", "3"]
    assert status[1]["state"] == "END" and "version 3 failed to load" in \
        status[1]["status"]["error_message"]
    failures = sum("failed to load" in e for e in events)
    models.refresh()
    assert sum("failed to load" in e for e in events) == failures   # not retried while unchanged
    shutil.rmtree(base / MODEL / "3")
    add_version(base, 3)
    models.refresh()
    assert served(models) == {MODEL: [1, 3]}
    assert models.get(MODEL).status()["model_version_status"][1]["state"] == "AVAILABLE"


def test_resolution_by_version_label_and_errors(base):
    add_version(base, 2)
    models, _ = registry(base, policy=VersionPolicy("all"),
                         labels={MODEL: {"stable": 1, "gone": 7}})
    models.refresh()
    assert models.resolve(MODEL)[0] == 2
    assert models.resolve(MODEL, version=1)[0] == 1
    assert models.resolve(MODEL, label="stable")[0] == 1
    for kwargs, status, message in [
            ({"label": "nope"}, 404, "label 'nope' is not defined for model 'msft_close' "
                                     "(labels: gone, stable)"),
            ({"label": "gone"}, 404, "version 7 of model 'msft_close' is not served")]:
        with pytest.raises(RequestError, match=re.escape(message)) as info:
            models.resolve(MODEL, **kwargs)
        assert info.value.status == status
    for name, status in (("missing", 404), ("..", 400), ("../etc", 400), ("-x", 400)):
        with pytest.raises(RequestError) as info:
            models.resolve(name)
        assert info.value.status == status


def test_constructor_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="--model-base-path .*: not a folder"):
        ModelRegistry(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="--poll-seconds must be > 0"):
        ModelRegistry(str(tmp_path), poll_seconds=0)
