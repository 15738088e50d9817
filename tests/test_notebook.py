"""notebooks/lab.ipynb runs top to bottom on a fresh kernel (tiny generated data, 1-2 epochs), saved without outputs."""

from pathlib import Path

import nbformat
from conftest import write_images
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "lab.ipynb"
CHARTS = ("test_accuracy.png", "train_vs_test.png", "learning_rate.png")


def test_stored_notebook_has_no_outputs_and_starts_with_a_parameter_cell():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "parameters" in code[0].metadata.get("tags", [])


def test_notebook_runs_the_lab_top_to_bottom_on_a_fresh_kernel(cifar_like_folder, tmp_path):
    for digit in range(10):
        write_images(tmp_path / "mnist" / str(digit), 5, shape=(28, 28, 1), seed=digit)
    out = tmp_path / "lab"
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # Like papermill: the given parameters in a cell of their own, right after the parameter cell.
    parameters = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    notebook.cells.insert(parameters + 1, nbformat.v4.new_code_cell(
        f"DATA_DIR = {str(cifar_like_folder)!r}\nMNIST_DIR = {str(tmp_path / 'mnist')!r}\nEPOCHS = 2\n"
        f"LENET5_EPOCHS = 1\nLIMIT = 20\nBATCH_SIZE = 16\nOUT = {str(out)!r}"
    ))

    # The kernel starts in the notebook's folder, as Jupyter starts it; "python3" is the kernel of this Python.
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    markdown = "\n".join(output.data["text/markdown"] for output in outputs
                         if "text/markdown" in output.get("data", {}))
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert "Comparison of 7 runs" in markdown and "| bn |" in markdown  # the report, shown inline
    assert markdown.count("Total: ") == 3  # the describe tables of lenet5, baseline and bn
    assert "**bn** changes `batch_norm=True`" in markdown
    # each step's curves, then the report's charts (2 epochs: a learning rate that changes)
    assert len(images) == 7 + len(CHARTS)
    assert all((out / name).is_file() for name in ("report.md", *CHARTS))
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == sorted(
        ["lenet5", "baseline", "norm", "augment", "momentum", "dropout", "bn"])
