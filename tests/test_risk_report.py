"""`exotics risk --quick` end to end: the backtest, VaR, stress and portfolio tables and plots, with the
figures checked against what they summarise (not against fixed numbers)."""
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pricer.cli import app


def test_risk_command_quick_run(tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["risk", "--quick", "-o", str(out)], env={"EXOTICS_CACHE_DIR": "", "COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for title in ("One-day VaR backtest", "VaR and CVaR today", "stress scenarios", "Daily-rebalanced portfolios"):
        assert title in result.output
    for name in ("var_backtest.csv", "var_today.csv", "stress.csv", "stress_trades.csv", "portfolio_backtest.csv",
                 "var_backtest_sp500.png", "var_backtest_nasdaq.png", "stress_pnl.png", "portfolio_wealth.png"):
        assert (out / name).stat().st_size > 0, name

    backtest = pd.read_csv(out / "var_backtest.csv")
    assert set(backtest["method"]) == {"GARCH MLE", "GARCH NN", "GJR-t MLE", "historical"}
    assert set(backtest["asset"]) == {"SP500", "NASDAQ"} and set(backtest["level"]) == {0.95, 0.99}
    np.testing.assert_allclose(backtest["rate"], backtest["exceptions"] / backtest["days"])
    assert backtest[["kupiec_p", "ind_p", "cc_p"]].apply(lambda p: p.between(0, 1)).all().all()

    today = pd.read_csv(out / "var_today.csv")
    assert np.all(today["cvar"] >= today["var"]) and np.all(today["var"] > 0)
    wide = today.pivot_table(index=["position", "method", "level"], columns="horizon", values="var")
    assert np.all(wide[5] > wide[1])                       # five days riskier than one

    stress = pd.read_csv(out / "stress.csv").set_index("scenarios")
    assert list(stress.index) == ["today", "2008 peak variance", "regime shift"]
    assert np.all(stress["cvar_99"] >= stress["var_99"]) and np.all(stress["var_99"] >= stress["var_95"])
    trades = pd.read_csv(out / "stress_trades.csv")
    assert (trades["status"] == "ok").all() and set(trades["underlying"]) <= {"SPX", "ACME"}

    portfolio = pd.read_csv(out / "portfolio_backtest.csv", index_col=0)
    assert {"garch_min_variance", "equal_weight"} <= set(portfolio.index)
    assert portfolio.loc["garch_min_variance", "vol_ratio"] == pytest.approx(
        portfolio.loc["garch_min_variance", "ann_volatility_pct"] / portfolio.loc["equal_weight", "ann_volatility_pct"])


def test_risk_command_refuses_bad_options(tmp_path):
    for option, value in (("--window", "10"), ("--scenarios", "1"), ("--paths", "5")):
        result = CliRunner().invoke(app, ["risk", "--quick", option, value, "-o", str(tmp_path)],
                                    env={"EXOTICS_CACHE_DIR": ""})
        assert result.exit_code == 2 and option in result.output, result.output
    # a window longer than the data: one line, exit code 2, no traceback
    result = CliRunner().invoke(app, ["risk", "--quick", "--window", "100000", "-o", str(tmp_path)],
                                env={"EXOTICS_CACHE_DIR": ""})
    assert result.exit_code == 2 and "window" in result.output and "Traceback" not in result.output, result.output
