"""``GET /monitoring/prometheus/metrics``: scraped and parsed, its counters checked against the
requests this test sent (with batching off and on)."""
import http.client
import os
import shutil
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from seqline.serving.batching import BatchOptions
from tests.serving_helpers import MODEL, call, msft_windows, serving_thread

PREDICT = f"/v1/models/{MODEL}:predict"


@pytest.fixture(scope="module")
def base(exported, tmp_path_factory):
    """The exported model plus a version that cannot load (one load failure)."""
    base = tmp_path_factory.mktemp("metrics_base")
    shutil.copytree(os.path.join(exported.serving_dir, MODEL, "1"), base / MODEL / "1")
    (base / "broken" / "1").mkdir(parents=True)
    (base / "broken" / "1" / "model.tflite").write_bytes(b"TFL3 but not a flatbuffer")
    return str(base)


def scrape(url: str) -> tuple:
    """``(content type, {(sample name, sorted labels): value})`` of one scrape."""
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/monitoring/prometheus/metrics")
    response = conn.getresponse()
    assert response.status == 200
    text = response.read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    return response.getheader("Content-Type"), samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize("batching", [None, BatchOptions(max_batch=8, timeout_ms=2.0)],
                         ids=["alone", "batching"])
def test_scraped_counters_match_the_requests_sent(base, batching):
    windows = msft_windows(4)
    sizes = [1, 2, 3, 4] * 6                  # 24 good requests, 60 examples
    with serving_thread(base, batching=batching) as (url, _):
        content_type, before = scrape(url)
        assert content_type.startswith("text/plain; version=0.0.4")
        assert value(before, "seqline_serving_version_loaded", model=MODEL, version="1",
                     kind="SavedModel") == 1
        assert value(before, "seqline_serving_load_failures_total", model="broken") == 1
        assert value(before, "seqline_serving_requests_total", model=MODEL, version="1",
                     code="200") == 0

        statuses = []

        def client(part):
            for size in part:
                statuses.append(call(url, "POST", PREDICT,
                                     {"instances": windows[:size].tolist()})[0])

        threads = [threading.Thread(target=client, args=(sizes[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert statuses == [200] * len(sizes)
        for _ in range(3):
            assert call(url, "POST", PREDICT, {"instances": [[[1.0, 2.0]]]})[0] == 400
        assert call(url, "POST", f"/v1/models/{MODEL}/versions/9:predict", {})[0] == 404
        assert call(url, "POST", "/v1/models/no_such_model:predict", {})[0] == 404
        assert call(url, "POST", "/v1/models/broken:predict", {"instances": [1]})[0] == 503
        assert call(url, "GET", f"/v1/models/{MODEL}")[0] == 200
        assert call(url, "GET", "/healthz")[0] == 200           # not a model request: not counted
        _, after = scrape(url)

    def requests(name="seqline_serving_requests_total", **labels):
        return value(after, name, **labels)

    assert requests(model=MODEL, version="1", code="200") == len(sizes)
    assert requests(model=MODEL, version="1", code="400") == 3
    assert requests(model=MODEL, version="", code="404") == 1
    assert requests(model="", version="", code="404") == 1      # unknown names get no label
    assert requests(model="broken", version="", code="503") == 1
    assert requests(model=MODEL, version="", code="200") == 1
    total = sum(v for (name, _), v in after.items() if name == "seqline_serving_requests_total")
    assert total == len(sizes) + 3 + 1 + 1 + 1 + 1              # the scrapes are not counted
    errors = {labels: v for (name, labels), v in after.items()
              if name == "seqline_serving_request_errors_total"}
    assert sum(errors.values()) == 6 and all(dict(k)["code"] >= "400" for k in errors)
    assert requests("seqline_serving_request_errors_total", model=MODEL, version="1",
                    code="400") == 3
    latency = requests("seqline_serving_request_latency_seconds_count", model=MODEL, version="1")
    assert latency == len(sizes) + 3
    calls = requests("seqline_serving_batch_size_count", model=MODEL, version="1")
    assert requests("seqline_serving_batch_size_sum", model=MODEL, version="1") == sum(sizes)
    if batching is None:
        assert calls == len(sizes)                              # one model call per request
    else:
        assert 1 <= calls <= len(sizes)
    assert requests("seqline_serving_batch_size_bucket", model=MODEL, version="1",
                    le="+Inf") == calls
    assert requests("seqline_serving_model_call_seconds_count", model=MODEL, version="1") == calls


def test_openmetrics_is_answered_when_asked_for(base):
    with serving_thread(base) as (url, _):
        host, port = url.split("//")[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/monitoring/prometheus/metrics",
                     headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        response = conn.getresponse()
        body = response.read().decode()
        assert response.getheader("Content-Type").startswith("application/openmetrics-text")
        assert body.rstrip().endswith("# EOF") and "seqline_serving_version_loaded" in body
        status, answer = call(url, "POST", "/monitoring/prometheus/metrics", {})
        assert status == 405 and "use GET" in answer["error"]
