"""Gather everything the report shows, draw the plots, write the Markdown."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from underwrite.report import compare, figures, gating, lock, markdown, repro_log
from underwrite.report.content import Report, Side
from underwrite.report.sources import Layout, Repo, ReportError, read_layout

if TYPE_CHECKING:
    from underwrite.watchlist import Comparison

log = logging.getLogger(__name__)

PLOTS = "plots"  # folder for the images, beside the Markdown


def gather(repo: Repo, base: str, layout: Layout) -> Report:
    """Compare the workspace with commit BASE: params, metrics, gate, status, validation."""
    every = compare.metric_rows(repo, base)
    rows = [r for r in every if layout.model_metrics in (None, r.file)]
    base_metrics, head_metrics = compare.nested(rows, "base"), compare.nested(rows, "head")
    stale = compare.stale_stages(repo)
    fresh = head_metrics is not None and not stale
    verdict, gate = gating.verdict(repo, base, has_base_model=base_metrics is not None)
    return Report(
        base=Side(
            "base",
            repo.short(base),
            base_metrics,
            compare.data_version(repo.show(base, lock.LOCK), layout.data),
        ),
        head=Side(
            "head",
            f"{repo.short('HEAD')} (workspace)",
            head_metrics,
            compare.data_version(repo.read(lock.LOCK), layout.data),
        ),
        params=compare.changed_params(repo, base),
        metrics=rows,
        other_metrics=[r for r in every if r not in rows],
        gate=gate,
        verdict=verdict if fresh else None,
        stale=stale,
        validation=compare.validation(repo, layout),
    )


def draw_plots(repo: Repo, base: str, layout: Layout, report: Report, out: Path) -> None:
    """Write each plot of base and head side by side, and each side's images, under OUT."""
    for spec in layout.plots:
        panels = [
            figures.Panel(report.base.label, figures.plot_rows(repo.show(base, spec.path))),
            figures.Panel(report.head.label, figures.plot_rows(repo.read(spec.path))),
        ]
        path = figures.draw(spec, panels, out / PLOTS / f"{spec.name}.png")
        report.figures.append((spec.title, path.relative_to(out).as_posix()))
    for image in layout.images:
        stem = Path(image).stem
        written = [
            _copy(content, out, f"{stem}-{side}.png")
            for side, content in (("base", repo.show(base, image)), ("head", repo.read(image)))
        ]
        report.images.append((stem, *written))


def _copy(content: bytes | None, out: Path, name: str) -> str | None:
    if content is None:
        return None
    target = out / PLOTS / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target.relative_to(out).as_posix()


def watch_comparison(repo: Repo, base: str) -> Comparison | None:
    """The watch list (as in the workspace) scored by base's model and the workspace's; base's
    model is fetched as the gate fetches it (report.gating.base_model)."""
    from underwrite import gate_sources, paths, watchlist
    from underwrite.params import load_params

    folder = repo.root / watchlist.WATCHLIST
    if not folder.is_dir():
        return None
    notes, head_model, base_model = [], None, None
    head = repo.read(paths.MODEL.as_posix())
    if head is None:
        notes.append(f"head: {paths.MODEL} is missing; run `dvc repro`")
    else:
        head_model = gate_sources.load_model(head)
    fetched = gating.base_model(repo, base)
    if hasattr(fetched, "predict_proba"):
        base_model = fetched
    else:  # a verdict saying why it cannot be had
        notes.append(f"base: {fetched.reasons[0]}")
    threshold = load_params(repo.root / paths.PARAMS).evaluate.threshold
    rows = watchlist.compare(watchlist.load(folder), base_model, head_model, threshold)
    return watchlist.Comparison(rows, f"base {base[:7]}", "head", notes)


def _text(content: bytes | None) -> str | None:
    return content.decode() if content is not None else None


def make_report(
    root: Path,
    base: str,
    out: Path,
    repro: Path | None = None,
    plots_url: str | None = None,
    check_lock: bool = False,
) -> Report:
    """Write OUT/report.md (images under OUT/plots) comparing workspace ROOT with BASE.

    REPRO: the saved `dvc repro` log, for which stages ran or were reused. PLOTS_URL: also
    write OUT/comment.md, which links there instead of embedding the images. CHECK_LOCK:
    compare the committed dvc.lock with the workspace's (what was reproduced).
    """
    repo = Repo(root)
    layout = read_layout(root)
    commit = repo.resolve(base)
    if repro is not None and not repro.is_file():
        raise ReportError(
            f"repro log {repro}: no such file; save it with `dvc repro 2>&1 | tee {repro}`"
        )
    log.info("comparing the workspace of %s with %s", root, base)
    report = gather(repo, commit, layout)
    if repro is not None:
        report.stages = repro_log.parse(repro.read_text(errors="replace"), layout.stages)
    report.watchlist = watch_comparison(repo, commit)
    if check_lock:
        report.drift = lock.lock_drift(repo.show("HEAD", lock.LOCK), repo.read(lock.LOCK))
    out.mkdir(parents=True, exist_ok=True)
    log.info("drawing the plots of base and head")
    draw_plots(repo, commit, layout, report, out)
    (out / "report.md").write_text(markdown.render(report))
    if plots_url:
        (out / "comment.md").write_text(markdown.render(report, plots_url=plots_url))
    return report
