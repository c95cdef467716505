"""The end-to-end demo (what `exotics demo` runs) on the embedded data, with few paths."""
import numpy as np

from pricer.demo import run


def test_demo_pipeline_writes_the_report(tmp_path):
    summary = run(tmp_path, paths=2048, log=lambda message: None)
    results = summary["results"]
    assert (results["status"] == "ok").all(), results.loc[results.status != "ok", "error"].head().tolist()
    assert np.isfinite(results["price"]).all() and (results["stderr"] >= 0).all()
    for name in ("results.csv", "market.csv", "garch_fit.csv", "convergence.csv", "conditional_volatility.png",
                 "heston_smile.png", "convergence.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    fit = summary["fit"]
    assert 0.0 <= float(fit.alpha) and float(fit.alpha + fit.beta + fit.gamma / 2) < 1.0
