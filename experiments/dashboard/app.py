"""The dashboard page: Mesa's SolaraViz around :class:`DashboardModel`, with our views as its components.

Mesa provides the frame: the sidebar's play/step/reset controls, the render interval, the model
parameters (our scenario, comparison, population, seed and levers) and the grid of cards. Settings take
effect on Reset, as in every Mesa app. Each browser session gets its own model.

Start it with ``zhudai dashboard`` (which runs ``solara run experiments.dashboard.app``).
"""

from __future__ import annotations

import threading
import weakref

import pandas as pd
import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from experiments.analysis.scale import SUPPORTED_MIN_BORROWERS
from experiments.dashboard import views
from experiments.dashboard.levers import LEVERS, SWITCH_CHOICES, lever_summary
from experiments.dashboard.session import (
    BORROWER_CHOICES,
    DEFAULT_BORROWERS,
    DEFAULT_COMPARE,
    DEFAULT_SCENARIO,
    DashboardModel,
    compare_choices,
    scenario_names,
)

TITLE = "zhudai-abm: lending-assistance industry dashboard"
#: The smallest population at which the scale check finds the answers independent of the size
#: (docs/guide/scale-check.md: the measured table); the page says so below it.
SMALL_POPULATION = SUPPORTED_MIN_BORROWERS
PLAY_INTERVAL_MS = 1
#: Months stepped between redraws (Mesa's Render Interval slider; its steps are odd numbers, 1, 3, 5...).
RENDER_INTERVAL = 1
CSS = """
.zhudai-date { font-size: 1.6rem; font-weight: 600; line-height: 1.2; }
.theme--light .zhudai-date { color: rgba(0, 0, 0, 0.87); }
.theme--dark .zhudai-date { color: #fff; }
.zhudai-muted { opacity: 0.7; font-size: 0.85rem; }
.zhudai-card .v-card__text { padding-top: 4px; }
.zhudai-arm { opacity: 0.85; }
.zhudai-warn { color: #c06c00; font-size: 0.8rem; margin: 2px 0; }
.zhudai-status .v-alert { margin: 4px 0; }
.zhudai-table p { margin: 0; }
/* Mesa shows a tab bar even for a single page of components; ours has one page. */
.v-tabs { display: none; }
.zhudai-svg svg { display: block; }
.zhudai-table table { font-size: 0.8rem; border-collapse: collapse; width: 100%; }
.zhudai-table th, .zhudai-table td { padding: 0 6px; text-align: right; white-space: nowrap; }
/* Mesa's grid cells have a fixed height: a card scrolls inside its cell instead of spilling over the next. */
.vue-grid-item .zhudai-card { height: 100%; overflow-y: auto; }
.zhudai-table th:first-child, .zhudai-table td:first-child { text-align: left; }
/* The levers in force may be long (the rules announced ahead): they wrap rather than run into the next run's. */
.zhudai-levers td:not(:first-child) { white-space: normal; }
"""


def model_params() -> dict:
    """Mesa user parameters: scenario, comparison, population, seed, then the levers of run A."""
    params: dict = {
        "scenario": {"type": "Select", "value": DEFAULT_SCENARIO, "values": scenario_names(),
                     "label": "Scenario (run A)"},
        "compare": {"type": "Select", "value": DEFAULT_COMPARE, "values": compare_choices(),
                    "label": "Compare with (run B, as shipped)"},
        "borrowers": {"type": "Select", "value": DEFAULT_BORROWERS, "values": BORROWER_CHOICES,
                      "label": "Borrowers per run"},
        "seed": {"type": "InputText", "value": "1", "label": "Seed (both runs)"},
    }
    for lever in LEVERS:
        if lever.kind == "switch":
            params[lever.name] = {"type": "Select", "value": "scenario", "values": SWITCH_CHOICES,
                                  "label": f"A: {lever.label}"}
        else:
            params[lever.name] = {"type": "InputText", "value": "", "label": f"A: {lever.label}"}
    return params


# ------------------------------------------------------------------------------------------ components
def _markdown_table(df: pd.DataFrame) -> str:
    """A small DataFrame as a Markdown table (text cells, no index)."""
    head = "| " + " | ".join(str(c) for c in df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in df.itertuples(index=False))


#: The figures of each live dashboard model (one per session and Reset); gone with the model.
_CANVASES: weakref.WeakKeyDictionary[DashboardModel, views.Canvas] = weakref.WeakKeyDictionary()


def _canvas(dm: DashboardModel) -> views.Canvas:
    with dm.lock:
        canvas = _CANVASES.get(dm)
        if canvas is None:
            canvas = _CANVASES[dm] = views.Canvas(dm)
        return canvas


def _download(data, filename: str, label: str, mime: str, css: str) -> None:
    """A small text button that downloads ``data`` (bytes, or a callable computing them on click)."""
    with solara.FileDownload(data, filename=filename, mime_type=mime):
        solara.Button(label, icon_name="mdi-download", text=True, small=True, classes=[css])


@solara.component
def Status(model: DashboardModel):
    """Date, runs, headline numbers, messages and export."""
    update_counter.get()
    dm = model
    solara.Style(CSS)
    with dm.lock, solara.Card("Run", classes=["zhudai-card", "zhudai-status", f"zhudai-build-{dm.build_id}"]):
        _drawn(dm, "status", dm.months_done)
        if dm.arms:
            solara.Div(children=[dm.date], classes=["zhudai-date"])
            solara.Div(children=[f"month {dm.months_done} of {dm.horizon} · seed {dm.seed_value} · "
                                 f"{dm.borrowers:,} borrowers per run"], classes=["zhudai-muted"])
            styles = {"A": "solid", "B": "dashed"}
            for arm in dm.arms:
                solara.Div(children=[f"{arm.label} ({styles[arm.tag]})"], classes=["zhudai-muted", "zhudai-arm"])
        if dm.error:
            solara.Error(dm.error, classes=["zhudai-error"], dense=True)
        if dm.arms and dm.borrowers < SMALL_POPULATION:
            solara.Div(children=[f"Below {SMALL_POPULATION:,} borrowers per run the scale check finds answers that "
                                 f"depend on the population size; use {SMALL_POPULATION} or more for results."],
                       classes=["zhudai-warn"])
        if dm.arms and dm.months_done:
            numbers = pd.DataFrame({arm.tag: views.headline(dm, arm) for arm in dm.arms})
            with solara.Div(classes=["zhudai-table"]):
                solara.Markdown(_markdown_table(numbers.rename_axis("").reset_index()))
        if dm.arms:
            with solara.Row(gap="4px"):
                _download(dm.tables_zip, "zhudai-tables.zip", "Tables (CSV)", "application/zip", "zhudai-csv")
                _download(lambda: views.figures_zip(dm), "zhudai-figures.zip", "Figures (PNG)", "application/zip",
                          "zhudai-pngs")
        solara.Div(children=["Sidebar settings apply on Reset."], classes=["zhudai-muted"])


@solara.component
def Levers(model: DashboardModel):
    """The levers in force in each run: what the scenario has, after run A's changes."""
    update_counter.get()
    dm = model
    with solara.Card("Levers in force", classes=["zhudai-card", "zhudai-table", "zhudai-levers"]):
        if not dm.arms:
            solara.Div(children=["no run"], classes=["zhudai-muted"])
            return
        table = pd.DataFrame({arm.tag: lever_summary(arm.scenario) for arm in dm.arms})
        solara.Markdown(_markdown_table(table.rename_axis("lever").reset_index()))
        solara.Div(children=["The sidebar's A: levers change run A only. Blank keeps the scenario's value; rates are "
                             "in percent; 'off' removes a cap or limit; months are YYYY-MM. 'Rules announced' is "
                             "the notice in months before the rules the scenario announces ahead start (0: no "
                             "warning)."],
                   classes=["zhudai-muted"])


def _figure_card(stem: str, title: str):
    @solara.component
    def FigureCard(model: DashboardModel):
        update_counter.get()
        with model.lock:
            picture = _canvas(model).svg(stem)
            _drawn(model, stem, model.months_done)
        with solara.Card(title, classes=["zhudai-card", "zhudai-fig", f"zhudai-view-{stem}"]):
            solara.HTML(tag="div", unsafe_innerHTML=picture, classes=["zhudai-svg"])
            if model.arms and model.months_done:
                _download(lambda: views.figure_png(model, stem), f"{stem}-{model.date}.png", "PNG", "image/png",
                          f"zhudai-png-{stem}")

    FigureCard.__name__ = f"FigureCard_{stem}"
    return FigureCard


@solara.component
def LargestPlatforms(model: DashboardModel):
    """The largest platforms by new volume this month, with their partners by funder group."""
    update_counter.get()
    dm = model
    with dm.lock, solara.Card("Largest platforms this month and their partners",
                              classes=["zhudai-card", "zhudai-table"]):
        _drawn(dm, "largest", dm.months_done)
        if not dm.arms or not dm.months_done:
            solara.Text("Step the model to see the platforms.", classes=["zhudai-muted"])
            return
        for arm in dm.arms:
            t = dm.largest_platforms(arm, n=6)
            if t.empty:
                continue
            t = t.assign(share=t["share"].map(lambda v: f"{v:.1%}"))
            solara.Text(arm.label, classes=["zhudai-muted"])
            solara.Markdown(_markdown_table(t))


def components() -> list:
    """The page's cards, in reading order (Mesa lays them out two per row)."""
    cards = [(Status, 0)]
    cards += [(_figure_card(stem, title), 0) for stem, title, _ in views.FIGURES]
    cards += [(LargestPlatforms, 0), (Levers, 0)]
    return cards


COMPONENTS = components()
MODEL_PARAMS = model_params()


class PageModel(DashboardModel):
    """The dashboard model as the page steps it: a month starts only once every card has drawn the last one.

    With Mesa's "Use Threads", one thread steps while another redraws the cards one after another; a month
    completed in the middle of a redraw would leave cards drawn at different months (and after Pause, nothing
    redraws them). Each card reports the month it drew (:meth:`drawn`), and :meth:`step` waits, for at most
    :attr:`DRAW_WAIT_S` seconds (a card that failed to draw cannot hold the runs up), until every card that
    has drawn at all shows the current month. Without threads Mesa redraws after each step anyway, so the
    wait ends at once. Mesa's Reset re-creates the model from this class.
    """

    DRAW_WAIT_S = 30.0

    # Mesa builds the model from its __init__ signature (keyword parameters only), so the page's state is
    # created on first use rather than in an __init__ of our own.
    @property
    def _all_drawn(self) -> threading.Condition:
        with self.lock:
            if "_drawn_cv" not in self.__dict__:
                self._drawn_cv = threading.Condition(self.lock)
                self._months_drawn: dict[str, int] = {}
            return self._drawn_cv

    def drawn(self, card: str, months: int) -> None:
        """Card ``card`` now shows the first ``months`` months."""
        with self._all_drawn:
            self._months_drawn[card] = months
            self._all_drawn.notify_all()

    def step(self) -> None:
        with self._all_drawn:
            self._all_drawn.wait_for(lambda: all(m == self.months_done for m in self._months_drawn.values()),
                                     timeout=self.DRAW_WAIT_S)
        super().step()


def _drawn(model: DashboardModel, card: str, months: int) -> None:
    if isinstance(model, PageModel):
        model.drawn(card, months)


@solara.component
def Page():
    """One dashboard per browser session."""
    model = solara.use_memo(PageModel, [])
    SolaraViz(model, components=COMPONENTS, model_params=MODEL_PARAMS, name=TITLE,
              play_interval=PLAY_INTERVAL_MS, render_interval=RENDER_INTERVAL)
