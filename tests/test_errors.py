"""How another library's error becomes part of kgan's one-line messages."""

from kgan.errors import first_line


def test_first_line_takes_the_first_words_that_say_something():
    assert first_line(ValueError("\n  disk full\nstack trace follows")) == "disk full"
    assert first_line(RuntimeError("x" * 500), limit=20) == "x" * 20
    assert first_line(MemoryError()) == "MemoryError"
    assert first_line(MemoryError(), empty="allocation failed") == "allocation failed"
    assert first_line("OOM when allocating tensor\nwith shape [128]") == "OOM when allocating tensor"
