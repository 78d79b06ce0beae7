"""seqline: TFX-style pipelines for sequence models (Beam data stages, Keras 3 models, MLflow)."""
import re

from setuptools import find_packages, setup

# the repository's top-level folders install as one namespace: pipeline/ -> seqline.pipeline, ...
FOLDERS = find_packages(include=["pipeline", "pipeline.*", "components", "components.*", "models",
                                 "models.*", "serving", "serving.*", "corpora", "corpora.*"])


def version() -> str:
    """``__version__`` of seqline/__init__.py, read without importing it."""
    with open("seqline/__init__.py", encoding="utf-8") as fh:
        return re.search(r'^__version__ = "([^"]+)"', fh.read(), re.M).group(1)


setup(
    name="seqline",
    version=version(),
    description="One YAML config from raw sequence data to an exported, tracked sequence model.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=["seqline", *(f"seqline.{name}" for name in FOLDERS)],
    package_dir={"seqline": "seqline",
                 **{f"seqline.{name}": name.replace(".", "/") for name in FOLDERS}},
    # ranges that work; constraints.txt pins the versions CI tests (pip install -c constraints.txt)
    install_requires=[
        "tensorflow>=2.21.0,<2.22",
        "keras>=3.15.1,<3.16",
        "apache-beam>=2.77.0,<3",
        "google-crc32c>=1.9.0,<2",
        "mlflow>=3.17.2,<4",
        "optuna>=5.0.0,<6",
        "numpy>=2.4.6,<3",
        "matplotlib>=3.11.2,<4",
        "PyYAML>=6.0.4,<7",
        "rich>=15.0.0,<16",
        "scipy>=1.17.1,<2",
        "soundfile>=0.14.0,<0.15",
        "tf_keras>=2.21.0,<2.22",                       # Compressor: the LSTM twin that TFLite fuses
        "tensorflow-model-optimization>=0.8.1,<0.9",   # Compressor: pruning and clustering
        "ai-edge-litert>=2.3.0,<2.4",                  # Compressor: runs the .tflite variants
        "statsforecast>=2.0.1,<3",                   # Evaluator: the AutoETS reference
        "rapidfuzz>=3.14.6,<4",                      # speech: edit distance for CER and WER
        "cronsim>=2.9,<3",                           # seqline schedule: cron expressions
        "prometheus-client>=0.26.0,<0.27",           # serve: the /monitoring/prometheus/metrics endpoint
        "psutil>=7.2.2,<8",                          # Trainer: the memory available for the example cache
    ],
    extras_require={
        "test": ["pytest>=9.2.0,<10", "pytest-xdist>=3.8.0,<4", "hypothesis>=6.170.27,<7", "jax[cpu]>=0.10.2,<0.11",
                 "pandas>=3.1.1,<4", "scikit-learn>=1.9.1,<2", "jsonschema>=4.26.0,<5",
                 "apache-beam[dask]>=2.77.0,<3", "mkdocs>=1.6.1,<2", "mkdocs-material>=9.8.2,<10"],
        "jax": ["jax[cpu]>=0.10.2,<0.11"],
        "dask": ["apache-beam[dask]>=2.77.0,<3"],
        "docs": ["mkdocs>=1.6.1,<2", "mkdocs-material>=9.8.2,<10"],   # the site in docs/      # the data stages on a Dask cluster
    },
    entry_points={"console_scripts": ["seqline=seqline.pipeline.cli:main"]},
)
