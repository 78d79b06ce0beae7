"""Compression selection and config (pure functions): the budget, the choice per target, the
fallback to the float model, the variant catalog and the config checks."""
import math

import pytest

from seqline.components.compression.catalog import VARIANTS, variants_for
from seqline.components.compression.report import format_table
from seqline.components.compression.selection import Budget, select
from seqline.pipeline.errors import ConfigError
from tests.forecast_fixtures import forecast_config, msft_slice

MAE = Budget("mae", higher_is_better=False, max_relative_loss=0.03)
ACCURACY = Budget("accuracy", higher_is_better=True, max_absolute_loss=0.01)


def row(name, mae, size, p50=1.0, status="ok", gzip=0):
    return {"name": name, "target": VARIANTS[name][0], "status": status, "metrics": {"mae": mae},
            "size_bytes": size, "gzip_bytes": gzip, "latency_p50_ms": p50}


def test_relative_budget_on_a_lower_is_better_metric():
    assert MAE.allows(1.0, 1.03) and MAE.allows(1.0, 0.5)
    assert not MAE.allows(1.0, 1.0301)
    assert MAE.loss(2.0, 2.1) == pytest.approx((0.1, 0.05))
    assert MAE.limit(2.0) == pytest.approx(2.06)
    assert not MAE.allows(1.0, math.nan)


def test_absolute_budget_on_a_higher_is_better_metric():
    assert ACCURACY.allows(0.90, 0.89) and ACCURACY.allows(0.90, 0.95)
    assert not ACCURACY.allows(0.90, 0.8899)
    assert ACCURACY.limit(0.90) == pytest.approx(0.89)
    both = Budget("accuracy", True, max_relative_loss=0.001, max_absolute_loss=0.01)
    assert not both.allows(0.90, 0.895)   # within 0.01 absolute, not within 0.1% relative


def test_a_budget_needs_a_non_negative_limit():
    with pytest.raises(ValueError, match="max_relative_loss or max_absolute_loss"):
        Budget("mae", False)
    with pytest.raises(ValueError, match="must be >= 0"):
        Budget("mae", False, max_relative_loss=-0.1)


def test_the_smallest_variant_within_budget_wins_then_the_smaller_gzipped_then_the_fastest():
    rows = [row("tflite_float32", 1.00, 20_000), row("tflite_float16", 1.01, 14_000),
            row("tflite_int8", 1.02, 9_000, p50=0.30, gzip=6_000),
            row("tflite_pruned_int8", 1.02, 9_000, p50=0.20, gzip=6_000),
            row("tflite_dynamic_int8", 1.50, 5_000)]                 # smallest, but over budget
    choice = select(rows, "edge", MAE, reference=1.0)
    assert choice["variant"] == "tflite_pruned_int8" and not choice["fallback"]
    assert "smallest (then fastest)" in choice["reason"]
    assert set(choice["within_budget"]) == {"tflite_float32", "tflite_float16", "tflite_int8",
                                            "tflite_pruned_int8"}
    rows.append(row("tflite_pruned_clustered_int8", 1.03, 9_000, p50=0.40, gzip=4_000))
    choice = select(rows, "edge", MAE, reference=1.0)
    assert choice["variant"] == "tflite_pruned_clustered_int8"
    assert "smallest (then smallest gzipped)" in choice["reason"]


def test_no_variant_within_budget_falls_back_to_the_float_model_with_the_numbers():
    rows = [row("float32", 1.00, 200_000), row("float16", 1.10, 190_000), row("int8", 1.05, 210_000),
            row("float8", math.nan, 0, status="skipped")]
    choice = select(rows, "gpu", MAE, reference=1.0)
    assert choice["variant"] == "float32" and choice["fallback"]
    assert "no compressed gpu variant within budget" in choice["reason"]
    assert "float16 mae 1.1 (+10.00%" in choice["reason"] and "int8 mae 1.05 (+5.00%" in choice["reason"]
    assert "exporting the float model float32" in choice["reason"]


def test_a_float_model_that_is_smallest_is_chosen_without_a_fallback():
    rows = [row("float32", 1.00, 100), row("int8", 1.00, 200)]
    choice = select(rows, "gpu", MAE, reference=1.0)
    assert choice == {**choice, "variant": "float32", "fallback": False}


def test_without_any_built_edge_model_nothing_is_chosen():
    rows = [row("float32", 1.0, 100), row("tflite_float32", math.nan, 0, status="failed")]
    choice = select(rows, "edge", MAE, reference=1.0)
    assert choice["variant"] is None and choice["fallback"]
    assert "not available" in choice["reason"]


def test_the_table_marks_budget_and_choice_and_lists_notes():
    rows = [row("float32", 1.0, 2048), {**row("float8", math.nan, 0, status="skipped"),
                                         "note": "needs a GPU"}]
    rows[0].update(relative_loss=0.0, within_budget=True, gzip_bytes=1024, latency_p95_ms=2.0,
                   throughput_b64=100.0)
    text = format_table(rows, "mae", {"gpu": "float32"})
    first = text.splitlines()[2].split()
    assert first[:8] == ["float32", "gpu", "ok", "1.0000", "+0.00%", "2.0", "1.0", "1.000"]
    assert first[-2:] == ["ok", "gpu"]
    assert "float8: needs a GPU" in text


def test_the_catalog_always_builds_the_references():
    assert variants_for(["edge"], ["tflite_int8"]) == ["float32", "tflite_float32", "tflite_int8"]
    assert variants_for(["gpu"], ["tflite_int8", "float16"]) == ["float32", "float16"]
    assert variants_for(["gpu", "edge"]) == list(VARIANTS)


@pytest.mark.parametrize("section, message", [
    ({"targets": ["phone"]}, "compression.targets: expected a non-empty list of gpu, edge"),
    ({"targets": []}, "compression.targets: expected a non-empty list"),
    ({"variants": ["int4"]}, "compression.variants: unknown variant 'int4'"),
    ({"budget": {"max_relative_mae_increase": -1}}, "max_relative_mae_increase: must be >= 0"),
    ({"budget": {"max_accuracy_drop": 0.01}}, "compression.budget.max_accuracy_drop: unknown key"),
])
def test_compression_config_errors_name_the_key(tmp_path, section, message):
    data = msft_slice(str(tmp_path / "msft.csv"), 50)
    with pytest.raises(ConfigError, match=message):
        forecast_config(tmp_path, data, compression=section)


def test_compression_defaults(tmp_path):
    cfg = forecast_config(tmp_path, msft_slice(str(tmp_path / "msft.csv"), 50))
    assert cfg["compression"]["enabled"] and cfg["compression"]["targets"] == ["gpu", "edge"]
    assert cfg["compression"]["budget"] == {"max_relative_mae_increase": 0.03}
    assert cfg["pusher"]["edge_dir"] == str(tmp_path / "output" / "edge")
