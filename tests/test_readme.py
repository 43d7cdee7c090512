"""README's Python examples run as written (on a smaller SyntheticShapes)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_training_loop_example_runs():
    blocks = python_blocks()
    assert blocks, "README has no Python example"
    code = blocks[0]
    small = code.replace('SyntheticShapes("train")', 'SyntheticShapes("train", 64, 2)')
    assert small != code, "the example no longer builds SyntheticShapes('train')"
    scope: dict = {}
    exec(compile(small, str(README), "exec"), scope)
    batch, model = scope["batch"], scope["model"]
    assert batch.num_graphs >= 1 and batch.pos.shape[0] < 64 * batch.num_graphs  # points dropped
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
