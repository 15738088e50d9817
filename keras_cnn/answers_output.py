"""The answer sheet's charts (every finished seed of a variant: mean line and min-max band) and its PDF.

A sheet is a list of blocks, each a tuple: ("title" | "h2" | "h3" | "p", text), ("list", [text]),
("code", text), ("table", headers, rows) or ("image", path, caption). Text may hold **bold**,
`code` and [links](target); the PDF keeps the link's words.
"""

import html
import io
import math
import re
import statistics

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from keras_cnn.answers_records import Variant
from keras_cnn.plots import save_figure

# Colours and line styles that tell the lab's variants apart, also in grey print.
STYLES = {
    "lenet5": ("#17becf", "-"), "baseline": ("#7f7f7f", ":"), "norm": ("#1f77b4", "-."), "augment": ("#2ca02c", "--"),
    "momentum": ("#ff7f0e", "-"), "dropout": ("#9467bd", "--"), "bn": ("#d62728", "-"),
}
# The PDF's standard fonts have no glyph for these characters.
PDF_CHARACTERS = str.maketrans({"−": "-", "→": "->", "×": "x", "≤": "<=", "≥": ">=", "★": "*", "…": "..."})


def band(variant: Variant, column: str) -> tuple[list[int], list[float], list[float], list[float]]:
    """Epochs every finished seed reached, and per epoch the mean, min and max of `column` over them (in %).

    A diverged seed is left out, as from the means: its last epochs hold no result."""
    per_seed = [{row["epoch"]: row.get(column) for row in run.epochs} for run in variant.finished]
    epochs = sorted(set.intersection(*(set(values) for values in per_seed)))
    columns = [[100 * values[epoch] if values[epoch] is not None else math.nan for values in per_seed]
               for epoch in epochs]
    return epochs, [statistics.fmean(c) for c in columns], [min(c) for c in columns], [max(c) for c in columns]


def plot_progression(variants: list[Variant], path: str) -> str:
    """Test accuracy per epoch of every variant: the mean of its seeds and their min-max band; the end enlarged."""
    figure, (whole, end) = plt.subplots(1, 2, figsize=(11, 4.4))
    lowest = []
    for variant in variants:
        epochs, mean, low, high = band(variant, "test_accuracy")
        color, style = STYLES.get(variant.name, ("black", "-"))
        label = f"{variant.name} ({variant.seeds_phrase()})"
        for axes in (whole, end):
            axes.plot(epochs, mean, color=color, linestyle=style, linewidth=1.8, label=label)
            axes.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)
        half = len(epochs) // 2
        lowest.append(min(low[half:], default=math.nan))
    last = max((run.epochs[-1]["epoch"] for v in variants for run in v.finished if run.epochs), default=1)
    whole.set_title("Test accuracy per epoch (mean of the seeds, band: min to max)")
    end.set_title("The second half enlarged")
    end.set_xlim(max(1, last // 2), last)
    if any(math.isfinite(v) for v in lowest):
        end.set_ylim(min(v for v in lowest if math.isfinite(v)) - 1, None)
    for axes in (whole, end):
        axes.set_xlabel("epoch")
        axes.set_ylabel("test accuracy (%)")
        axes.grid(alpha=0.3)
    handles, labels = whole.get_legend_handles_labels()
    # Three labels a row: six in one row overran the figure's width once a label named a diverged seed.
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), frameon=False)
    figure.tight_layout(rect=(0, 0.13, 1, 1))
    return save_figure(figure, path, dpi=110)


def plot_curves(variant: Variant, path: str) -> str:
    """Train and test accuracy (left) and loss (right) per epoch of one variant: mean of its seeds, min-max band."""
    figure, panels = plt.subplots(1, 2, figsize=(10, 3.8))
    color = STYLES.get(variant.name, ("black", "-"))[0]
    for panel, (metric, title) in zip(panels, (("accuracy", "accuracy (%)"), ("loss", "loss"))):
        for prefix, style, name in (("", "--", "train"), ("test_", "-", "test")):
            epochs, mean, low, high = band(variant, prefix + metric)
            scale = 1 if metric == "accuracy" else 0.01  # band() gives percentages
            panel.plot(epochs, [m * scale for m in mean], color=color if name == "test" else "black", linestyle=style,
                       label=name)
            panel.fill_between(epochs, [v * scale for v in low], [v * scale for v in high],
                               color=color if name == "test" else "black", alpha=0.15, linewidth=0)
        panel.set_xlabel("epoch")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.set_ylabel(title)
        panel.grid(alpha=0.3)
    left_out = "".join(f"; seed {run.seed} diverged, left out" for run in variant.diverged)
    figure.suptitle(f"{variant.name}: train and test per epoch ({variant.seeds_phrase()}{left_out}; mean line, "
                    "min-max band)")
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    return save_figure(figure, path, dpi=100)


def pdf_text(text: str) -> str:
    """Inline Markdown as reportlab's paragraph markup."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text.translate(PDF_CHARACTERS))
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`([^`]+)`", r'<font face="Courier">\1</font>', text)


def write_pdf(blocks: list[tuple], path: str) -> str:
    """Render the blocks as an A4 PDF at `path` (the same blocks give the same file: reportlab's invariant mode)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import SimpleDocTemplate

    document = SimpleDocTemplate(path, pagesize=A4, leftMargin=1.8 * cm, rightMargin=1.8 * cm, topMargin=1.6 * cm,
                                 bottomMargin=1.6 * cm, title="The lab's answer sheet", author="keras-cnn",
                                 invariant=True)
    story = [flowable for block in blocks for flowable in _flowables(block, document.width)]
    document.build(story, onFirstPage=_page_number, onLaterPages=_page_number)
    return path


def _styles() -> dict:
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    sheet = getSampleStyleSheet()
    return {
        "title": sheet["Title"], "h2": ParagraphStyle("h2", parent=sheet["Heading2"], keepWithNext=1),
        "h3": ParagraphStyle("h3", parent=sheet["Heading3"], spaceBefore=8, spaceAfter=3, keepWithNext=1),
        "p": ParagraphStyle("p", parent=sheet["BodyText"], fontSize=9.5, leading=12.5, spaceAfter=4),
        "cell": ParagraphStyle("cell", parent=sheet["BodyText"], fontSize=7.5, leading=9),
        "code": ParagraphStyle("code", parent=sheet["Code"], fontSize=7.2, leading=8.6, leftIndent=6),
        "caption": ParagraphStyle("caption", parent=sheet["Italic"], fontSize=8.5, leading=10.5, spaceAfter=6),
    }


def _flowables(block: tuple, width: float) -> list:
    from reportlab.platypus import KeepTogether, Paragraph, Preformatted, Spacer

    styles, kind = _styles(), block[0]
    if kind in ("title", "h2", "h3", "p"):
        return [Paragraph(pdf_text(block[1]), styles[kind])]
    if kind == "list":
        return [Paragraph(pdf_text(item), styles["p"], bulletText="•") for item in block[1]]
    if kind == "code":
        code = Preformatted(block[1].translate(PDF_CHARACTERS), styles["code"], maxLineLength=118)
        return [KeepTogether([code]), Spacer(1, 4)]  # a variant's code on one page
    if kind == "table":
        return [_table(block[1], block[2], width, styles["cell"]), Spacer(1, 6)]
    if kind == "image":
        return [_image(block[1], width), Paragraph(pdf_text(block[2]), styles["caption"])]
    raise ValueError(f"unknown block {kind}")


def _table(headers: list[str], rows: list[list[str]], width: float, style):
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    sizes = [min(max(len(str(cells[i])) for cells in [headers, *rows]), 40) + 6 for i in range(len(headers))]
    widths = [width * size / sum(sizes) for size in sizes]
    data = [[Paragraph(pdf_text(str(cell)), style) for cell in cells] for cells in [headers, *rows]]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _image(path: str, width: float):
    from PIL import Image as PILImage
    from reportlab.lib.units import cm
    from reportlab.platypus import Image

    with PILImage.open(path) as picture:
        pixels_wide, pixels_high = picture.size
        shown = min(width, pixels_wide * 0.6)  # small pictures are not blown up
        height = shown * pixels_high / pixels_wide
        if height > 20 * cm:
            shown, height = shown * 20 * cm / height, 20 * cm
        # Embedded at 1.5 pixels per point (108 dpi) in 64 colours, enough for charts of flat colours: the PDF is
        # committed, and full-size RGB pictures made it 2.9 MB.
        scale = min(1.0, 1.5 * shown / pixels_wide)
        small = picture.convert("RGB").resize((max(1, round(pixels_wide * scale)), max(1, round(pixels_high * scale))),
                                              PILImage.LANCZOS).quantize(64)
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=True)
    buffer.seek(0)
    return Image(buffer, width=shown, height=height)


def _page_number(canvas, document) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 8)
    canvas.drawRightString(document.pagesize[0] - document.rightMargin, 0.9 * 28.35,
                           f"keras-cnn: the lab's answer sheet, page {document.page}")
    canvas.restoreState()
