"""Test configuration: float64 is available (the library never flips this flag itself), and JAX's persistent
compilation cache is on, in the command line's folder."""
import jax
import pytest

jax.config.update("jax_enable_x64", True)
# JAX's persistent compilation cache, as the command line keeps it (~/.cache/exotics/jax, or
# EXOTICS_CACHE_DIR), on from the first test: the suite's time depends on it. Compiling is most of a test's
# time here, and the command lines the tests run in subprocesses (killed and resumed books, the demo) load
# what this process compiled. On a 2-core CPU (2026-12-07) the first half of the suite took 18 minutes with
# an empty cache and 12.5 with a warm one; the whole suite, warm, about 14. (Before, the first in-process
# command line turned the cache on for the tests after it only.)
from pricer.cli import _enable_compilation_cache  # noqa: E402

_enable_compilation_cache()


def pytest_collection_modifyitems(config, items):
    has_gpu = any(d.platform == "gpu" for d in jax.devices())
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(skip)
