"""The dashboard's figures, as plain matplotlib.

Each view has two halves: ``frame`` draws what does not depend on the month (axes, titles, formats, the
time window, one empty artist per series) and ``fill`` puts the current data into those artists. A fresh
figure (``FIGURES``' functions, used for the PNG export) is ``frame`` then ``fill``; the page keeps one
framed figure per view and session in a :class:`Canvas` and only re-fills it each month, which halves
the cost of a redraw. There is one drawing path, so a downloaded figure is the figure on screen.

Run A is drawn solid and run B dashed, on the same axes; time axes span the whole horizon from the first
month, so curves grow left to right and A and B stay comparable at a glance. A thin grey line marks the
month run A's all-in cap takes effect. Every series artist has an id ``series-{run}-{column}`` (in the SVG
the page shows, prefixed with the view's name), so tests can find what is plotted.
"""

from __future__ import annotations

import io
import re
import weakref
import zipfile
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")  # no display on a server

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from experiments.dashboard.session import Arm, DashboardModel
from model.enums import FunderKind

SIZE = (5.6, 2.75)                 # inches; at DPI this fills one cell of the page's two-column grid
DPI = 100
STYLE = {"A": "-", "B": "--"}
ARM_COLOR = {"A": "#1b6ca8", "B": "#d1495b"}
TIER_COLOR = {"head": "#1b6ca8", "waist": "#edae49", "tail": "#66a182"}
SEGMENT_COLOR = {"prime": "#2a9d8f", "near_prime": "#e9c46a", "subprime": "#e76f51"}
KINDS = [k.value for k in FunderKind]
KIND_SHORT = {"bank_state": "state", "bank_joint_stock": "joint-st.", "bank_city": "city", "bank_rural": "rural",
              "bank_internet": "internet", "cfc": "CFC", "microlender": "micro", "trust": "trust"}
MILLION = 1e6
APR_BINS = np.linspace(0.0, 0.60, 61)  # 1-point bins; legacy-era loans reach about 52%


# -------------------------------------------------------------------------------------------- helpers
def _dates(table: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.PeriodIndex(table["date"], freq="M").to_timestamp()


def _new_figure(ncols: int) -> tuple[Figure, list]:
    fig = Figure(figsize=SIZE, dpi=DPI)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.88, bottom=0.16, wspace=0.28)
    axes = list(fig.subplots(1, ncols, squeeze=False)[0])
    for ax in axes:
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def _title(ax, text: str) -> None:
    ax.set_title(text, fontsize=9, loc="left")


def _note(fig: Figure, text: str) -> None:
    """A message in the middle of the figure (no run, or nothing simulated yet)."""
    fig.zhudai_note.set_text(text)
    fig.zhudai_note.set_visible(bool(text))


def _message_figure(text: str, ncols: int) -> Figure:
    fig, axes = _new_figure(ncols)
    for ax in axes:
        ax.set_axis_off()
    fig.zhudai_note = fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, color="#555555")
    return fig


def _autoscale_y(ax, bottom: float | None = 0.0, headroom: float = 1.0) -> None:
    """Rescale y to the data now in the axes (after an earlier fixed limit), keeping ``bottom``."""
    ax.set_autoscaley_on(True)
    ax.relim()
    ax.autoscale_view(scalex=False)
    lo, hi = ax.get_ylim()
    lo = lo if bottom is None else bottom
    if not np.isfinite(hi) or hi <= lo:
        hi = lo + 1.0
    ax.set_ylim(lo, lo + (hi - lo) * headroom)


def _time_axes(dm: DashboardModel, axes: list) -> None:
    lo, hi = dm.window()
    rc = dm.arms[0].scenario.params.policy.rate_cap
    mark = pd.Period(rc.start, "M").to_timestamp() if rc.enabled else None
    for ax in axes:
        ax.set_xlim(lo, hi)
        if mark is not None and lo <= mark <= hi:
            ax.axvline(mark, color="#888888", linewidth=0.8, linestyle=":")
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))


def _series_line(ax: Axes, tag: str, color: str, gid: str, label: str | None = None) -> Line2D:
    """An empty line for one run's series (filled each month); ``gid`` names it in the page's SVG."""
    (line,) = ax.plot([], [], STYLE[tag], color=color, linewidth=1.4, label=label, gid=gid)
    return line


def _group_legend(ax: Axes) -> None:
    """The legend of coloured groups (tiers, segments) in an axis's upper right corner."""
    ax.legend(fontsize=7, frameon=False, loc="upper right", ncols=3, handlelength=1.2, columnspacing=0.8)


def _arm_legend(fig: Figure, dm: DashboardModel) -> None:
    if len(dm.arms) > 1:
        handles = [Line2D([], [], color="#333333", linestyle=STYLE[a.tag], linewidth=1.2) for a in dm.arms]
        fig.legend(handles, [a.tag for a in dm.arms], loc="lower right", ncols=2, fontsize=7, frameon=False,
                   handlelength=2.2, bbox_to_anchor=(0.99, 0.0))


class View:
    """One figure of the page. Subclasses draw the frame (``_frame``) and put the data in (``_fill``)."""

    stem = ""
    title = ""
    ncols = 2

    def frame(self, dm: DashboardModel) -> Figure:
        if not dm.arms:
            return _message_figure("no run: see the message in the Run card", self.ncols)
        fig, axes = _new_figure(self.ncols)
        fig.zhudai_note = fig.text(0.5, 0.5, "", ha="center", va="center", fontsize=9, color="#555555",
                                   bbox={"facecolor": "white", "edgecolor": "none"})
        fig.zhudai_artists = {}
        self._frame(fig, axes, dm)
        for ax in axes:  # empty axes autoscale to +-0.05; start from 0..1 until there is data
            if ax.get_ylim()[0] < 0:
                ax.set_ylim(0, 1)
        return fig

    def fill(self, fig: Figure, dm: DashboardModel) -> None:
        if not dm.arms:
            return
        _note(fig, "" if dm.months_done else "press Step or Play to simulate the first month")
        if dm.months_done:
            self._fill(fig, fig.axes[: self.ncols], dm)

    def render(self, dm: DashboardModel) -> Figure:
        """A fresh figure of the current state."""
        fig = self.frame(dm)
        self.fill(fig, dm)
        return fig

    def _frame(self, fig: Figure, axes: list, dm: DashboardModel) -> None:
        raise NotImplementedError

    def _fill(self, fig: Figure, axes: list, dm: DashboardModel) -> None:
        raise NotImplementedError


class SeriesView(View):
    """Model-table columns over time, one axis per column, one line per run."""

    columns: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    scale: tuple[float, ...] = (1.0, 1.0)
    percent: tuple[bool, ...] = (False, False)      # a share shown in percent (decimals follow the range)
    fixed_top: tuple[float | None, ...] = (None, None)

    def _frame(self, fig, axes, dm):
        for i, (ax, col) in enumerate(zip(axes, self.columns, strict=True)):
            _title(ax, self.titles[i])
            if self.percent[i]:
                ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            for arm in dm.arms:
                fig.zhudai_artists[(arm.tag, col)] = _series_line(ax, arm.tag, ARM_COLOR[arm.tag],
                                                                  f"series-{arm.tag}-{col}")
            if self.fixed_top[i] is not None:
                ax.set_ylim(0, self.fixed_top[i])
        _time_axes(dm, axes)
        _arm_legend(fig, dm)

    def _fill(self, fig, axes, dm):
        for arm in dm.arms:
            t = arm.table("model")
            x = _dates(t)
            for i, col in enumerate(self.columns):
                fig.zhudai_artists[(arm.tag, col)].set_data(x, t[col].to_numpy(dtype=float) * self.scale[i])
        for i, ax in enumerate(axes):
            if self.fixed_top[i] is None:
                _autoscale_y(ax)


class PlatformsByTier(View):
    stem, title = "platforms_by_tier", "Platforms by tier"

    def _frame(self, fig, axes, dm):
        ax_n, ax_v = axes
        for arm in dm.arms:
            for tier, color in TIER_COLOR.items():
                lab = tier if arm.tag == "A" else None
                fig.zhudai_artists[(arm.tag, "n", tier)] = _series_line(
                    ax_n, arm.tag, color, f"series-{arm.tag}-active_platforms_{tier}", lab)
                fig.zhudai_artists[(arm.tag, "v", tier)] = _series_line(
                    ax_v, arm.tag, color, f"series-{arm.tag}-volume_{tier}")
        _title(ax_n, "Active platforms")
        _title(ax_v, "Platform volume (M yuan / month)")
        _group_legend(ax_n)
        _time_axes(dm, axes)
        _arm_legend(fig, dm)

    def _fill(self, fig, axes, dm):
        for arm in dm.arms:
            m = arm.table("model")
            x = _dates(m)
            vol = arm.table("platforms").pivot_table(index="step", columns="tier", values="volume", aggfunc="sum")
            vol = vol.reindex(index=m["step"], columns=list(TIER_COLOR), fill_value=0.0).fillna(0.0)
            for tier in TIER_COLOR:
                fig.zhudai_artists[(arm.tag, "n", tier)].set_data(x, m[f"active_platforms_{tier}"].to_numpy(float))
                fig.zhudai_artists[(arm.tag, "v", tier)].set_data(x, vol[tier].to_numpy(float) / MILLION)
        _autoscale_y(axes[0], headroom=1.2)  # room for the tier legend
        _autoscale_y(axes[1])


class Concentration(SeriesView):
    stem, title = "concentration", "Concentration: head share and HHI"
    columns = ("head_share", "hhi")
    titles = ("Head platforms' share of volume", "HHI of platform volume")
    percent = (True, False)
    fixed_top = (1.0, None)


class RationingShadow(SeriesView):
    stem, title = "rationing_shadow", "Rationing and shadow lending"
    columns = ("rationed_share", "shadow_volume")
    titles = ("Rationed share of applicants", "Shadow lending (M yuan / month)")
    scale = (1.0, 1.0 / MILLION)
    percent = (True, False)


class DefaultsSpirals(SeriesView):
    stem, title = "defaults_spirals", "Defaults and debt spirals"
    columns = ("default_rate", "spiral_share")
    titles = ("Default rate (per month)", "Borrowers in a debt spiral")
    percent = (True, True)


class BorrowersBySegment(View):
    """Who is served and what they pay, by borrower segment: one line per segment and run."""

    stem, title = "borrowers_by_segment", "Borrowers by segment: served and APR paid"
    panels = (("served_share", "Credit seekers served"), ("apr_paid", "APR paid on new loans"))

    def _frame(self, fig, axes, dm):
        for ax, (column, title) in zip(axes, self.panels, strict=True):
            _title(ax, title)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            for arm in dm.arms:
                for segment, color in SEGMENT_COLOR.items():
                    label = segment.replace("_", "-") if arm.tag == "A" else None
                    fig.zhudai_artists[(arm.tag, column, segment)] = _series_line(
                        ax, arm.tag, color, f"series-{arm.tag}-{column}_{segment}", label)
        _group_legend(axes[0])
        _time_axes(dm, axes)
        _arm_legend(fig, dm)

    def _fill(self, fig, axes, dm):
        for arm in dm.arms:
            m = arm.table("model")
            x = _dates(m)
            for column, _title_text in self.panels:
                for segment in SEGMENT_COLOR:
                    fig.zhudai_artists[(arm.tag, column, segment)].set_data(
                        x, m[f"{column}_{segment}"].to_numpy(float))
        _autoscale_y(axes[0], headroom=1.2)  # room for the segment legend
        _autoscale_y(axes[1])


class Whitelists(View):
    """Mean whitelist size by funder kind: now (bars) and in the first month (ticks)."""

    stem, title, ncols = "whitelists", "Whitelists by funder kind", 1

    def _frame(self, fig, axes, dm):
        (ax,) = axes
        width = 0.8 / len(dm.arms)
        for i, arm in enumerate(dm.arms):
            xs = np.arange(len(KINDS)) + (i - (len(dm.arms) - 1) / 2) * width
            bars = ax.bar(xs, np.zeros(len(KINDS)), width * 0.95, color=ARM_COLOR[arm.tag], alpha=0.85,
                          hatch=None if arm.tag == "A" else "//", edgecolor="white", label=f"{arm.tag} now")
            for kind, bar in zip(KINDS, bars, strict=True):
                bar.set_gid(f"series-{arm.tag}-partners_{kind}")
            first = ax.scatter(xs, np.full(len(KINDS), np.nan), marker="_", s=120, color="#222222", zorder=3,
                               label="first month" if i == 0 else None)
            fig.zhudai_artists[arm.tag] = (bars, first, xs)
        ax.set_xticks(np.arange(len(KINDS)), [KIND_SHORT[k] for k in KINDS], fontsize=8)
        fig.zhudai_artists["title"] = ax.set_title("", fontsize=9, loc="left")
        ax.legend(fontsize=7, frameon=False, ncols=3, loc="upper center")

    def _fill(self, fig, axes, dm):
        (ax,) = axes
        top = 1.0
        for arm in dm.arms:
            bars, first, xs = fig.zhudai_artists[arm.tag]
            f = arm.table("funders")
            now = f[f["step"] == f["step"].max()].groupby("kind")["partners"].mean().reindex(KINDS).fillna(0.0)
            start = f[f["step"] == 1].groupby("kind")["partners"].mean().reindex(KINDS).fillna(0.0)
            for bar, h in zip(bars, now.to_numpy(), strict=True):
                bar.set_height(h)
            first.set_offsets(np.column_stack([xs, start.to_numpy()]))
            top = max(top, float(now.max()), float(start.max()))
        ax.set_ylim(0, top * 1.3)  # room for the legend
        fig.zhudai_artists["title"].set_text(f"Whitelist size: mean partners per funder, {dm.date}")


class AprDistribution(View):
    """Volume-weighted APRs of this month's new licensed loans, with the caps in force."""

    stem, title, ncols = "apr_distribution", "APRs of new loans against the cap", 1

    def _frame(self, fig, axes, dm):
        (ax,) = axes
        for arm in dm.arms:
            stairs = ax.stairs(np.zeros(len(APR_BINS) - 1), APR_BINS, linestyle=STYLE[arm.tag],
                               color=ARM_COLOR[arm.tag], linewidth=1.5, label=f"{arm.tag} new loans")
            stairs.set_gid(f"series-{arm.tag}-apr_new")
            fig.zhudai_artists[arm.tag] = stairs
        fig.zhudai_artists["caps"] = []
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlim(APR_BINS[0], APR_BINS[-1])
        fig.zhudai_artists["title"] = ax.set_title("", fontsize=9, loc="left")
        ax.legend(fontsize=7, frameon=False, loc="upper left")

    def _fill(self, fig, axes, dm):
        (ax,) = axes
        for artist in fig.zhudai_artists["caps"]:
            artist.remove()
        fig.zhudai_artists["caps"] = caps = []
        top = 0.05
        cap_runs: dict[float, list[str]] = {}
        for arm in dm.arms:
            apr, principal = dm.new_loan_aprs(arm)
            share = np.zeros(len(APR_BINS) - 1)
            if apr.size and principal.sum() > 0:
                share, _ = np.histogram(np.clip(apr, 0, APR_BINS[-1] - 1e-12), bins=APR_BINS,
                                        weights=principal / principal.sum())
            fig.zhudai_artists[arm.tag].set_data(share)
            top = max(top, float(share.max()))
            for cap in set(dm.caps_in_force(arm).values()):
                cap_runs.setdefault(round(cap, 6), []).append(arm.tag)
        for cap, tags in sorted(cap_runs.items()):
            if cap <= APR_BINS[-1]:
                color = ARM_COLOR[tags[0]] if len(tags) == 1 else "#555555"
                caps.append(ax.axvline(cap, color=color, linestyle=STYLE[tags[0]] if len(tags) == 1 else "-",
                                       linewidth=0.9, alpha=0.6))
                caps.append(ax.text(cap, 0.98, f" {' & '.join(tags)} cap {cap:.0%}", transform=ax.get_xaxis_transform(),
                                    fontsize=7, color=color, va="top", rotation=90, ha="right"))
        ax.set_ylim(0, top * 1.1)
        fig.zhudai_artists["title"].set_text(f"APR of new licensed loans, {dm.date} (share of volume; caps in force)")


VIEWS: list[View] = [PlatformsByTier(), Concentration(), Whitelists(), AprDistribution(), RationingShadow(),
                     DefaultsSpirals(), BorrowersBySegment()]

VIEW_BY_STEM: dict[str, View] = {v.stem: v for v in VIEWS}
#: Every figure view: (file stem, card title, function giving a fresh figure of the current state).
FIGURES: list[tuple[str, str, Callable[[DashboardModel], Figure]]] = [(v.stem, v.title, v.render) for v in VIEWS]


# --------------------------------------------------------------------------------------------- output
def svg(fig: Figure, stem: str) -> str:
    """The figure as an inline SVG element (text kept as text; ids prefixed with ``stem``), sized to its box.

    Series carry ids ``{stem}-series-{run}-{column}`` so that the page's tests can find what is plotted.
    """
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg")
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = text.replace('id="series-', f'id="{stem}-series-')
    # Fixed point sizes to a fluid width; the viewBox keeps the aspect ratio.
    head_end = text.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", text[:head_end])
    return head + ' style="width:100%;height:auto;font-family:DejaVu Sans,Verdana,sans-serif"' + text[head_end:]


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def figure_png(dm: DashboardModel, stem: str) -> bytes:
    """A fresh PNG of one view of the current state (read under the model's lock)."""
    with dm.lock:
        return png(VIEW_BY_STEM[stem].render(dm))


def figures_zip(dm: DashboardModel) -> bytes:
    """Every figure of the current state as PNG, zipped, with the settings that produced them."""
    buf = io.BytesIO()
    with dm.lock, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for stem, _title_text, view in FIGURES:
            zf.writestr(f"{stem}.png", png(view(dm)))
        zf.writestr("settings.txt", dm.settings_text())
    return buf.getvalue()


class Canvas:
    """The page's figures for one dashboard model: framed once, re-filled when the month changes.

    Holds the model weakly, so a cache keyed by the model (the page's) lets both go together.
    """

    def __init__(self, dm: DashboardModel):
        self._dm = weakref.ref(dm)
        self._figures: dict[str, Figure] = {}
        self._svg: dict[str, tuple[tuple, str]] = {}

    def svg(self, stem: str) -> str:
        """The view ``stem`` as inline SVG, drawn at most once per month (and per error state)."""
        dm = self._dm()
        if dm is None:
            raise ReferenceError("the dashboard model of this canvas is gone")
        with dm.lock:
            state = (dm.months_done, dm.error)
            cached = self._svg.get(stem)
            if cached and cached[0] == state:
                return cached[1]
            view = VIEW_BY_STEM[stem]
            if stem not in self._figures:
                self._figures[stem] = view.frame(dm)
            fig = self._figures[stem]
            view.fill(fig, dm)
            text = svg(fig, stem)
            self._svg[stem] = (state, text)
            return text


def headline(dm: DashboardModel, arm: Arm) -> dict[str, str]:
    """The latest month's key numbers of one run, formatted for the status card."""
    t = arm.table("model")
    if t.empty:
        return {}
    r = t.iloc[-1]
    return {
        "active platforms": f"{int(r['active_platforms'])}",
        "head share": f"{r['head_share']:.1%}",
        "HHI": f"{r['hhi']:.0f}",
        "rationed": f"{r['rationed_share']:.1%}",
        "default rate": f"{r['default_rate']:.2%}",
        "spiral share": f"{r['spiral_share']:.1%}",
    }
