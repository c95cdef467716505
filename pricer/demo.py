"""The end-to-end demo behind ``exotics demo``: market data -> GARCH -> Heston -> exotic prices -> report.

1. S&P 500 daily closes 1999-2018 (shipped with ``arch``), log returns in percent.
2. GJR-GARCH(1,1) with Student-t innovations by exact maximum likelihood (``calibrator.fit_garch``).
3. Heston initial values from the GARCH fit (``calibrator.garch_to_heston``).
4. The example book (``pricer.example_book``) priced by Monte Carlo, the index under the mapped Heston and
   the GARCH underlying under the fitted GJR dynamics.
5. A report folder: results.csv, garch_fit.csv, conditional_volatility.png, heston_smile.png,
   convergence.png.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

TRADING_DAYS = 252


def load_sp500_returns() -> pd.Series:
    """Daily log returns of the S&P 500 in percent, indexed by date (arch's embedded data)."""
    from arch.data import sp500
    closes = sp500.load()["Adj Close"]
    return (100.0 * np.log(closes).diff()).dropna().rename("sp500")


def fit_index_garch(returns: pd.Series):
    """GJR-GARCH(1,1)-t with a constant mean, by MLE, in percent units."""
    from calibrator import fit_garch
    return fit_garch(returns, method="mle", vol="gjr", dist="t", mean="constant", percent=True)


def calibrated_market(fit, heston) -> pd.DataFrame:
    """The example market with the index (SPX) under the mapped Heston and SX5E under the fitted GJR-GARCH.

    Spots, rates and dividends stay those of the example market; the dynamics come from the S&P 500 fit.
    """
    from .example_book import example_market
    market = example_market().set_index("underlying")
    if heston is not None:
        for name in ("v0", "kappa", "theta", "xi", "rho"):
            market.loc["SPX", name] = float(np.asarray(getattr(heston, name)))
    scale = 1e-4 if fit.percent else 1.0          # percent^2 -> decimal^2 daily variance
    market.loc["SX5E", ["omega", "alpha", "beta", "gamma"]] = [
        float(fit.omega) * scale, float(fit.alpha), float(fit.beta), max(float(fit.gamma), -float(fit.alpha))]
    market.loc["SX5E", "h0"] = float(fit.forecast(1).reshape(-1)[0]) * scale   # next day's variance
    return market.reset_index()


def plot_conditional_volatility(returns: pd.Series, fit, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scale = 0.01 if fit.percent else 1.0
    vol = np.sqrt(np.asarray(fit.conditional_variance) * TRADING_DAYS) * scale
    realised = returns.abs().rolling(21).mean() * np.sqrt(np.pi / 2) * np.sqrt(TRADING_DAYS) * scale
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(returns.index, realised, color="0.75", lw=0.8, label="21-day realised (|r| scaled)")
    ax.plot(returns.index, vol, lw=1.0, label="GJR-GARCH-t conditional vol (MLE)")
    ax.set_ylabel("annualised volatility")
    ax.set_title("S&P 500: conditional volatility")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_heston_smile(heston, spot: float, rate: float, dividend: float, path: Path,
                      title: str = "Heston mapped from the GARCH fit: smile") -> None:
    """Implied volatility of the mapped Heston model across strikes, for a few expiries."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .analytic import heston_price
    from .implied import implied_volatility
    moneyness = np.linspace(0.7, 1.3, 25)
    fig, ax = plt.subplots(figsize=(7, 4))
    for expiry in (0.25, 1.0, 3.0):
        strikes = spot * moneyness
        prices = np.array([float(heston_price(spot=spot, strike=k, expiry=expiry, v0=float(heston.v0),
                                              kappa=float(heston.kappa), theta=float(heston.theta),
                                              xi=float(heston.xi), rho=float(heston.rho), rate=rate,
                                              dividend=dividend, call=k >= spot)) for k in strikes])
        vols = implied_volatility(prices, spot, strikes, expiry, rate, dividend, call=strikes >= spot)
        ax.plot(moneyness, vols, label=f"{expiry:g} y")
    ax.set_xlabel("strike / spot")
    ax.set_ylabel("implied volatility")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_convergence(model, product, reference: float | None, path: Path, seed: int = 11) -> pd.DataFrame:
    """Monte Carlo price and 3-standard-error bars against the number of paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .engine import MonteCarlo, price
    rows = []
    for paths in (2_000, 8_000, 32_000, 128_000, 512_000):
        result = price(product, model, MonteCarlo(paths=paths, seed=seed))
        rows.append(dict(paths=result.paths, price=float(result.price), stderr=float(result.stderr)))
    table = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.errorbar(table.paths, table.price, yerr=3 * table.stderr, fmt="o-", capsize=3, label="Monte Carlo +- 3 stderr")
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1, label="closed form")
    ax.set_xscale("log")
    ax.set_xlabel("paths")
    ax.set_ylabel("price")
    ax.set_title("Convergence: Heston European (control variate on)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return table


def run(out: Path, paths: int = 20_000, greeks=(), log=print) -> dict:
    """The whole pipeline; returns a summary dict and writes the report folder ``out``."""
    from .book import price_book
    from .engine import MonteCarlo
    from .example_book import example_book
    from .models import Heston
    from .products import EuropeanOption
    from ._warning_texts import collected
    from .resolution import UnresolvedPriceWarning
    out.mkdir(parents=True, exist_ok=True)
    timings = {}

    start = time.perf_counter()
    returns = load_sp500_returns()
    fit = fit_index_garch(returns)
    timings["garch_fit_s"] = time.perf_counter() - start
    log(f"GJR-GARCH-t on {len(returns):,} S&P 500 returns: omega {float(fit.omega):.4f} %^2, alpha "
        f"{float(fit.alpha):.4f}, beta {float(fit.beta):.4f}, gamma {float(fit.gamma):.4f}, nu {float(fit.nu):.2f}")
    pd.DataFrame({name: [float(np.asarray(getattr(fit, name)))] for name in ("mu", "omega", "alpha", "beta", "gamma", "nu", "loglik")}
                 ).to_csv(out / "garch_fit.csv", index=False)
    plot_conditional_volatility(returns, fit, out / "conditional_volatility.png")

    heston = None
    try:
        from calibrator import garch_to_heston
        heston = garch_to_heston(fit, periods_per_year=TRADING_DAYS)
        log(f"Heston from GARCH: v0 {float(heston.v0):.4f}, kappa {float(heston.kappa):.3f}, theta "
            f"{float(heston.theta):.4f}, xi {float(heston.xi):.3f}, rho {float(heston.rho):.3f}")
    except ImportError:
        log("garch_to_heston is not available in this version: SPX keeps the example market's Heston parameters")
    market = calibrated_market(fit, heston)
    spx = market.set_index("underlying").loc["SPX"]
    heston_params = heston if heston is not None else dataclasses.make_dataclass(
        "HestonParams", ["v0", "kappa", "theta", "xi", "rho"])(*(spx[n] for n in ("v0", "kappa", "theta", "xi", "rho")))
    plot_heston_smile(heston_params, float(spx.spot), float(spx.rate), float(spx.dividend), out / "heston_smile.png",
                      title="Heston mapped from the GARCH fit: smile" if heston is not None
                      else "Heston (example market parameters): smile")

    start = time.perf_counter()
    trades = example_book()
    with collected(UnresolvedPriceWarning) as unresolved:
        results = price_book(trades, market, MonteCarlo(paths=paths), greeks=greeks)
    for text in unresolved:
        log(f"note: {text}")
    timings["book_s"] = time.perf_counter() - start
    results.to_csv(out / "results.csv", index=False)
    market.to_csv(out / "market.csv", index=False)

    from .analytic import heston_price
    model = Heston(spot=float(spx.spot), v0=float(heston_params.v0), kappa=float(heston_params.kappa),
                   theta=float(heston_params.theta), xi=float(heston_params.xi), rho=float(heston_params.rho),
                   rate=float(spx.rate), dividend=float(spx.dividend))
    reference = float(heston_price(spot=model.spot, strike=float(spx.spot), expiry=1.0, v0=model.v0,
                                   kappa=model.kappa, theta=model.theta, xi=model.xi, rho=model.rho,
                                   rate=model.rate, dividend=model.dividend, call=True))
    convergence = plot_convergence(model, EuropeanOption(strike=float(spx.spot), expiry=1.0), reference,
                                   out / "convergence.png")
    convergence.to_csv(out / "convergence.csv", index=False)
    return {"results": results, "trades": trades, "fit": fit, "heston": heston_params, "timings": timings}
